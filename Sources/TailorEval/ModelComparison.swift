import Foundation
import TailorData
import TailorModels

/// Trained models scored side by side on the same held-out data, with the baselines they must
/// beat: what `tailor evaluate` runs, as one library call, so a tuner, a server or a notebook
/// gets the same numbers as the command line.
///
/// Three protocols, chosen by the models and the split:
/// - ``ranking(_:train:test:trainName:configuration:baseline:testContext:)``: full-ranking
///   metrics for known users, popularity beside them;
/// - ``coldStart(_:method:prepared:configuration:)``: users or items the models never saw;
/// - ``clicks(_:prepared:seed:)``: click probabilities of rankers on held-out impressions,
///   beside each item's training click rate.
///
/// Nothing is printed: each result carries `notes` (warnings and what was left out) for the
/// caller to show.
public enum ModelComparison {
    /// A model to score, where it came from, and the label its row is shown under.
    public struct Entry {
        public var label: String
        public var path: String
        public var bundle: ModelBundle

        public init(label: String, path: String, bundle: ModelBundle) {
            self.label = label
            self.path = path
            self.bundle = bundle
        }

        /// One entry per model directory, labelled by the model's kind, or by the directory's
        /// name when two models share a kind.
        public static func labelled(paths: [String], bundles: [ModelBundle]) -> [Entry] {
            let kinds = bundles.map(\.manifest.kind)
            return zip(paths, bundles).map { path, bundle in
                let repeated = kinds.filter { $0 == bundle.manifest.kind }.count > 1
                return Entry(label: repeated ? URL(fileURLWithPath: path).lastPathComponent : bundle.manifest.kind, path: path, bundle: bundle)
            }
        }
    }

    // MARK: Known users, full ranking

    /// Full-ranking reports for known users.
    public struct Ranking: Sendable {
        /// `(label, report)`, models in the order given, then the popularity baseline.
        public var rows: [(String, EvaluationReport)]
        /// RMSE and MAE of the models that predict ratings, by label.
        public var ratingErrors: [String: RatingErrors]
        /// Whether the training log given is the one each model was trained on, by label.
        public var trainMatchesModel: [String: Bool]
        /// Test users the (first) model never saw, and their rows; test rows with unknown items.
        public var unknownTestUsers: Int
        public var unknownTestUserRows: Int
        public var unknownTestItemRows: Int
        /// Warnings and what was left out, one sentence each.
        public var notes: [String]
    }

    /// Scores each model on `test` with `train`'s items excluded from its rankings, and, when
    /// `baseline` is set and no popularity model is among them, popularity counted on `train`.
    /// With `testContext`, models with context features rank each test user under the context
    /// of their first test event.
    public static func ranking(_ entries: [Entry], train: Interactions, test: Interactions, trainName: String,
                               configuration: Evaluator.Configuration, baseline: Bool = true, testContext: Bool = false) throws -> Ranking {
        guard !entries.isEmpty else {
            throw ModelError(.invalidConfiguration, reason: "no model to evaluate", hint: "give at least one model directory")
        }
        var result = Ranking(rows: [], ratingErrors: [:], trainMatchesModel: [:], unknownTestUsers: 0, unknownTestUserRows: 0,
                             unknownTestItemRows: 0, notes: [])
        let trainFingerprint = train.fingerprint()
        var firstAligned: (train: AlignedInteractions, test: AlignedInteractions)?
        for entry in entries {
            let bundle = entry.bundle
            let same = trainFingerprint == bundle.manifest.data.fingerprint
            result.trainMatchesModel[entry.label] = same
            if !same {
                result.notes.append("warning: \(trainName) differs from the data \(entry.path) was trained on (\(bundle.manifest.data.source ?? "unknown")); its items are still excluded from rankings")
            }
            let trainAligned = AlignedInteractions(train, to: bundle)
            let testAligned = AlignedInteractions(test, to: bundle)
            if firstAligned == nil { firstAligned = (trainAligned, testAligned) }
            if testContext, let cold = bundle.model as? any ColdStartScoring, !cold.contextFeatures.isEmpty {
                let contexts = ContextEvaluation.firstTestContexts(test: test, bundle: bundle)
                result.rows.append((entry.label, try ContextEvaluation.evaluate(bundle: bundle, train: trainAligned.matrix, test: testAligned.matrix,
                                                                                contexts: contexts, configuration: configuration)))
            } else {
                if testContext { result.notes.append("\(entry.path) (\(bundle.manifest.kind)) has no context features: ranked without context") }
                result.rows.append((entry.label, Evaluator.evaluate(bundle.model, train: trainAligned.matrix, test: testAligned.matrix,
                                                                    configuration: configuration)))
            }
            if let predictor = bundle.model as? any RatingPredictor {
                result.ratingErrors[entry.label] = Evaluator.ratingErrors(predictor, test: testAligned.matrix)
            }
        }
        let aligned = firstAligned!
        (result.unknownTestUsers, result.unknownTestUserRows, result.unknownTestItemRows)
            = (aligned.test.unknownUsers, aligned.test.unknownUserRows, aligned.test.unknownItemRows)
        if aligned.test.unknownUsers > 0 || aligned.test.unknownItemRows > 0 {
            result.notes.append("left out of the test: \(aligned.test.unknownUsers) users the model never saw (\(aligned.test.unknownUserRows) rows), \(aligned.test.unknownItemRows) rows with unknown items")
        }
        if baseline && !entries.contains(where: { $0.bundle.manifest.kind == Popularity.kind }) {
            let popularity = Popularity(counting: aligned.train.matrix)
            result.rows.append(("popularity", Evaluator.evaluate(popularity, train: aligned.train.matrix, test: aligned.test.matrix,
                                                                 configuration: configuration)))
        }
        return result
    }

    // MARK: Cold users and cold items

    /// Cold-start reports: each model that can score the held-out users or items, then the
    /// baselines once.
    public struct ColdStart: Sendable {
        /// What was held out and how it was ranked, one sentence.
        public var summary: String
        /// `(label, report)`, models first.
        public var rows: [(String, EvaluationReport)]
        /// Warnings and what was left out.
        public var notes: [String]
    }

    /// Scores the models that can score users (`method` `.coldUsers`) or items (`.coldItems`)
    /// they were not trained on; the others are left out with a note. Throws when none can.
    public static func coldStart(_ entries: [Entry], method: SplitMethod, prepared: DatasetRecipe.Prepared,
                                 configuration: Evaluator.Configuration) throws -> ColdStart {
        guard method.isColdStart, let test = prepared.test else {
            throw ModelError(.invalidConfiguration, reason: "the recipe's holdout (\(method)) holds out no cold users or items",
                             hint: "train with holdout method cold-users or cold-items")
        }
        var result = ColdStart(summary: "", rows: [], notes: [])
        for entry in entries {
            let bundle = entry.bundle
            guard bundle.model is any ColdStartScoring else {
                result.notes.append("warning: \(entry.path) (\(bundle.manifest.kind)) cannot score users or items it was not trained on; left out (two-tower can)")
                continue
            }
            let evaluation: ColdStartEvaluation.Result
            if case .coldUsers(_, let revealed) = method {
                evaluation = ColdStartEvaluation.coldUsers(bundle: bundle, test: test, revealed: revealed, side: prepared.side, configuration: configuration)
                result.summary = "\(evaluation.heldOut) cold users, each known by their profile" + (revealed > 0 ? " and first \(revealed) events" : "")
                    + "; ranked among \(bundle.itemIDs.count) items"
            } else {
                evaluation = ColdStartEvaluation.coldItems(bundle: bundle, test: test, side: prepared.side, configuration: configuration)
                result.summary = "\(evaluation.heldOut) cold items, known by their content, ranked among themselves for \(bundle.userIDs.count) known users"
            }
            if evaluation.skippedRows > 0 { result.notes.append("left out of the test: \(evaluation.skippedRows) rows (item or user unknown to the model)") }
            // The model's row under its label, then each baseline once.
            for (label, report) in evaluation.reports where label == bundle.manifest.kind || !result.rows.contains(where: { $0.0 == label }) {
                result.rows.append((label == bundle.manifest.kind ? entry.label : label, report))
            }
        }
        guard !result.rows.isEmpty else {
            throw ModelError(.unsupported, reason: "no model given can score cold \(method.isColdUserProtocol ? "users" : "items")",
                             hint: "train one that can (--model two-tower)")
        }
        if prepared.side.isEmpty {
            result.notes.append("warning: the data has no item catalogue or user profiles, so only ids and events are known")
        }
        return result
    }

    // MARK: Click probabilities

    /// Rankers' click reports on held-out impressions.
    public struct Clicks: Sendable {
        /// Which impressions were scored, one phrase.
        public var protocolName: String
        /// Rows scored, rows clicked, and impressions (groups).
        public var shown: Int
        public var clicked: Int
        public var impressions: Int
        /// `(label, report)`, rankers first, then the item click rate.
        public var rows: [(String, ClickReport)]
        /// Warnings.
        public var notes: [String]
    }

    /// Click probabilities of the models that predict clicks, on the held-out impressions (or,
    /// without logged impressions, on held-out interactions each beside 4 random items drawn
    /// with `seed`), beside each item's click rate in training.
    public static func clicks(_ entries: [Entry], prepared: DatasetRecipe.Prepared, seed: UInt64) throws -> Clicks {
        let test: Impressions, train: Impressions
        let protocolName: String
        if let held = prepared.testImpressions, held.count > 0 {
            test = held
            train = prepared.impressions ?? held
            protocolName = "held-out impressions (the latest by time)"
        } else {
            guard let heldOut = prepared.test else {
                throw ModelError(.invalidConfiguration, reason: "the recipe holds nothing out, so there is nothing to score",
                                 hint: "train the ranker with a holdout (--holdout)")
            }
            test = Impressions.sampled(from: heldOut, negatives: 4, seed: seed)
            train = Impressions.sampled(from: prepared.trainRaw, negatives: 4, seed: seed)
            protocolName = "held-out interactions, each beside 4 random items (no logged impressions)"
        }
        let ks = [1, 5]
        var result = Clicks(protocolName: protocolName, shown: test.count, clicked: test.positives, impressions: Set(test.groups).count,
                            rows: [], notes: [])
        for entry in entries {
            guard let ranker = entry.bundle.model as? any ClickScoring else {
                result.notes.append("warning: \(entry.path) (\(entry.bundle.manifest.kind)) does not predict clicks; left out (train --model ranker)")
                continue
            }
            result.rows.append((entry.label, ClickReport(probabilities: ranker.clickProbabilities(test), labels: test.rows.values,
                                                         groups: test.groups, ks: ks)))
        }
        let rate = ItemClickRate(train)
        result.rows.append(("item click rate", ClickReport(probabilities: rate.probabilities(test), labels: test.rows.values,
                                                           groups: test.groups, ks: ks)))
        return result
    }
}

extension SplitMethod {
    /// Whether the split holds out cold users or cold items.
    public var isColdStart: Bool {
        switch self { case .coldUsers, .coldItems: true; default: false }
    }

    /// Whether the split holds out cold users.
    public var isColdUserProtocol: Bool {
        if case .coldUsers = self { return true }
        return false
    }
}

extension ClickReport {
    /// A fixed-width table of click reports: AUC, impression AUC, log loss, calibration error,
    /// predicted over observed clicks, precision at 1 and 5.
    public static func table(_ rows: [(String, ClickReport)]) -> String {
        var table = "model              AUC    imp.AUC  log loss  calib.err  pred/obs    P@1     P@5\n"
        for (label, r) in rows {
            table += label.padding(toLength: 18, withPad: " ", startingAt: 0)
            table += String(format: " %.4f  %@   %.4f    %.4f     %6.3f   %@  %@\n", r.auc, r.impressionAUC.map { String(format: "%.4f", $0) } ?? "  –   ",
                            r.logLoss, r.calibrationError, r.predictedOverObserved,
                            r.precisionAtK[1].map { String(format: "%.4f", $0) } ?? "  –   ", r.precisionAtK[5].map { String(format: "%.4f", $0) } ?? "  –   ")
        }
        return table
    }
}
