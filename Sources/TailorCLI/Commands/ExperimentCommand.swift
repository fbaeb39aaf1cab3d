import ArgumentParser
import Foundation
import TailorData
import TailorExperiments
import TailorModels
import TailorServer
import TailorStore

struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Create, list, stop and report online experiments (A/B tests) that `tailor serve` runs.",
        discussion: """
        An experiment splits users between variants by a hash of its salt and the user id (the
        same in every process and release). While it runs, `tailor serve` serves each user's
        variant (its model version from --models, its request options) and stores what it
        showed as exposure events tagged with the experiment and variant; a running server sees
        a new or stopped experiment within two seconds. The report attributes clicks on shown
        items and purchases to the variants within the attribution window.

        Experiments run side by side in layers: those of one layer split its users exclusively
        (--traffic takes the first free slice), layers are independent and must change
        different things. --interleave merges two variants' lists into one per user by team
        draft; the report counts the lists each variant's items won.
          tailor experiment create diversity-test --store tailor.db --variants control=0.5,treatment=0.5 --option treatment:diversity=0.3
          tailor experiment create v2-test --store tailor.db --variants control=0.9,v2=0.1 --model v2=v2 --layer models --traffic 0.5
          tailor experiment create v3-vs-v2 --store tailor.db --interleave --variants control,candidate --model candidate=v3 --layer models --traffic 0.5
          tailor experiment list --store tailor.db
          tailor experiment report diversity-test --store tailor.db
          tailor experiment stop diversity-test --store tailor.db
          tailor experiment replay --store tailor.db --model models/v3 --experiment diversity-test --variant control

        The report gives, per variant, users, CTR and conversion with 95 % intervals, the
        difference from the first variant (the control) with a z-test (the CTR's variance over
        users by the delta method: one user's exposures are not independent), a
        sample-ratio-mismatch check (a split that is off by more than chance means broken
        assignment or logging: distrust the rest), and an always-valid sequential p-value: stop
        the first time it is at or below your α; unlike the z-test's, it stays valid however
        often you look.
        """,
        subcommands: [Create.self, List.self, Stop.self, Report.self, Replay.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start an experiment.")
        @Argument(help: "Its name (no spaces or slashes).") var name: String
        @Option(help: ArgumentHelp("The store.", valueName: "FILE.db|URL")) var store: String
        @Option(help: ArgumentHelp("Variants and their traffic shares, summing to 1; the first is the control. With --interleave, the two variants' names (A,B).", valueName: "NAME=SHARE,…"))
        var variants: String
        @Flag(help: "Team-draft interleaving of the two variants: every user sees one list drafted from both, and their clicks say which they prefer.")
        var interleave = false
        @Option(help: ArgumentHelp("Its layer: experiments of one layer split its users exclusively, layers are independent and must change different things.", valueName: "NAME"))
        var layer = Experiment.defaultLayer
        @Option(help: ArgumentHelp("Its share of the layer's users, from the first free slice (default: all).", valueName: "SHARE"))
        var traffic = 1.0
        @Option(help: ArgumentHelp("A variant's model version (repeatable); default: the active model.", valueName: "VARIANT=VERSION"))
        var model: [String] = []
        @Option(help: ArgumentHelp("A variant's request option: diversity, rerank or exclude_seen (repeatable).", valueName: "VARIANT:KEY=VALUE"))
        var option: [String] = []
        @Option(help: "Salt of the assignment (default: the name; a new salt reshuffles users).") var salt: String?
        @Option(help: ArgumentHelp("Clicks and purchases count for this long after an exposure (e.g. 30m, 24h, 7d).", valueName: "DURATION"))
        var window = "24h"

        func parsed(slice: (start: Double, end: Double)? = nil) throws -> Experiment {
            var list: [Experiment.Variant] = []
            for part in variants.split(separator: ",") {
                let pieces = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if interleave && pieces.count == 1 {
                    list.append(.init(name: pieces[0], share: 0.5))
                    continue
                }
                guard pieces.count == 2, let share = Double(pieces[1]) else {
                    throw ValidationError("--variants: '\(part)' is not NAME=SHARE (e.g. control=0.5,treatment=0.5)")
                }
                list.append(.init(name: pieces[0], share: share))
            }
            for m in model {
                let pieces = m.split(separator: "=", maxSplits: 1).map(String.init)
                guard pieces.count == 2, let i = list.firstIndex(where: { $0.name == pieces[0] }) else {
                    throw ValidationError("--model: '\(m)' is not VARIANT=VERSION for a variant of --variants")
                }
                list[i].model = pieces[1]
            }
            for o in option {
                let head = o.split(separator: ":", maxSplits: 1).map(String.init)
                let kv = head.count == 2 ? head[1].split(separator: "=", maxSplits: 1).map(String.init) : []
                guard kv.count == 2, let i = list.firstIndex(where: { $0.name == head[0] }) else {
                    throw ValidationError("--option: '\(o)' is not VARIANT:KEY=VALUE for a variant of --variants (e.g. treatment:diversity=0.3)")
                }
                list[i].options[kv[0]] = kv[1]
            }
            let seconds = try Serve.duration(window).components.seconds
            do {
                if interleave && list.count == 2 && list.allSatisfy({ $0.share == 0.5 }) == false {
                    throw ValidationError("--variants: an interleaving experiment shows both variants to every user; give their names without shares (e.g. control,candidate)")
                }
                return try Experiment(name: name, salt: salt, variants: list, started: Int64(Date().timeIntervalSince1970 * 1000),
                                      attributionWindowSeconds: Double(seconds), kind: interleave ? .interleave : .split, layer: layer,
                                      traffic: slice ?? (0, traffic))
            } catch let error as ExperimentError {
                throw ValidationError(error.description)
            }
        }

        func validate() throws {
            guard traffic > 0, traffic <= 1, traffic.isFinite else { throw ValidationError("--traffic must be above 0 and at most 1, got \(traffic)") }
            _ = try parsed()
        }

        func run() throws {
            let db = try StoreOptions.store(at: store, create: true)
            let experiment: Experiment
            do {
                let all = try Experiment.all(in: db)
                if let existing = all.first(where: { $0.name == name }) {
                    throw ValidationError("an experiment '\(name)' already exists (\(existing.status.rawValue)); choose another name")
                }
                experiment = try parsed(slice: Experiment.allocate(traffic: traffic, layer: layer, among: all))
                try Experiment.create(experiment, in: db)
            } catch let error as ExperimentError {
                throw ValidationError(error.description)
            }
            let scope = layer == Experiment.defaultLayer && traffic >= 1 ? "" : String(format: " (layer %@, %g%% of its users)", layer, (traffic * 1000).rounded() / 10)
            Terminal.note("experiment '\(name)' running\(scope)\(interleave ? ", interleaving" : ""): " + experiment.variants.map { v in
                (interleave ? v.name : "\(v.name) \(Int((v.share * 100).rounded()))%") + (v.model.map { " model \($0)" } ?? "")
                    + v.options.sorted(by: { $0.key < $1.key }).map { " \($0.key)=\($0.value)" }.joined()
            }.joined(separator: ", "))
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the experiments.")
        @Option(help: ArgumentHelp("The store.", valueName: "FILE.db|URL")) var store: String
        func run() throws {
            let all = try Experiment.all(in: StoreOptions.store(at: store, create: false))
            if all.isEmpty { Terminal.note("no experiments in \(store)"); return }
            let format = ISO8601DateFormatter()
            for e in all {
                print("\(e.name)\t\(e.status.rawValue)\tstarted \(format.string(from: Date(timeIntervalSince1970: Double(e.started) / 1000)))\t"
                      + (e.kind == .interleave ? "interleave " + e.variants.map(\.name).joined(separator: ",") : e.variants.map { "\($0.name)=\($0.share)" }.joined(separator: ","))
                      + "\tlayer \(e.layer) [\(e.trafficStart), \(e.trafficEnd))")
            }
        }
    }

    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop an experiment (its users get the active model again).")
        @Argument(help: "Its name.") var name: String
        @Option(help: ArgumentHelp("The store.", valueName: "FILE.db|URL")) var store: String
        func run() throws {
            let db = try StoreOptions.store(at: store, create: false)
            var all = try Experiment.all(in: db)
            guard let i = all.firstIndex(where: { $0.name == name }) else { throw ValidationError("no experiment '\(name)' in \(store)") }
            guard all[i].status == .running else { throw ValidationError("experiment '\(name)' is already stopped") }
            all[i].status = .stopped
            all[i].stopped = Int64(Date().timeIntervalSince1970 * 1000)
            try Experiment.save(all, in: db)
            Terminal.note("experiment '\(name)' stopped")
        }
    }

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Report an experiment's results from the store's events.")
        @Argument(help: "Its name.") var name: String
        @Option(help: ArgumentHelp("The store.", valueName: "FILE.db|URL")) var store: String
        @Option(help: ArgumentHelp("Also write the report as JSON here.", valueName: "FILE.json")) var json: String?
        func run() throws {
            let db = try StoreOptions.store(at: store, create: false)
            guard let experiment = try Experiment.all(in: db).first(where: { $0.name == name }) else { throw ValidationError("no experiment '\(name)' in \(store)") }
            let report = ExperimentReport.make(experiment, events: try ExperimentReport.events(in: db))
            print(ExperimentCommand.render(report), terminator: "")
            if let json { try Terminal.writeJSON(report, to: json) }
        }
    }

    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay logged lists for a candidate model before it goes live.",
            discussion: """
            Every logged list (the items one response showed a user, stored as exposures) that
            was clicked is re-ranked by the candidate; NDCG and MRR of the clicks under the
            candidate are compared with their logged positions. It measures order only, not
            what the candidate would have shown instead: a check before an A/B test.
            """)
        @Option(help: ArgumentHelp("The store.", valueName: "FILE.db|URL")) var store: String
        @Option(help: ArgumentHelp("The candidate model directory.", valueName: "DIR")) var model: String
        @Option(help: "Only lists logged by this experiment.") var experiment: String?
        @Option(help: "Only lists of this variant (with --experiment).") var variant: String?
        @Option(help: ArgumentHelp("Clicks count for this long after a list was shown (e.g. 30m, 24h).", valueName: "DURATION")) var window = "24h"
        @Option(help: ArgumentHelp("Also write the replay as JSON here.", valueName: "FILE.json")) var json: String?

        func validate() throws {
            _ = try Serve.duration(window)
            if variant != nil && experiment == nil { throw ValidationError("--variant needs --experiment") }
        }

        func run() throws {
            _ = neuralModelsRegistered
            let db = try StoreOptions.store(at: store, create: false)
            let bundle = try ModelBundle.load(from: URL(fileURLWithPath: model))
            let r: ReplayReport
            do {
                r = try ReplayReport.make(events: ExperimentReport.events(in: db), candidate: bundle, experiment: experiment, variant: variant,
                                          window: Double(try Serve.duration(window).components.seconds))
            } catch let error as ExperimentError {
                throw ValidationError(error.description)
            }
            print(String(format: "%d clicked lists replayed (%d skipped: users the candidate does not know)\nNDCG of the clicks: logged %.4f, candidate %.4f (%.3f×)\nMRR: logged %.4f, candidate %.4f\n",
                         r.lists, r.skipped, r.loggedNDCG, r.candidateNDCG, r.ratio, r.loggedMRR, r.candidateMRR), terminator: "")
            if let json { try Terminal.writeJSON(r, to: json) }
        }
    }

    static func render(_ r: ExperimentReport) -> String {
        var out = "experiment \(r.experiment) (\(r.status.rawValue)\(r.interleaving == nil ? "" : ", interleaving"))\n"
        if let i = r.interleaving, r.arms.count == 2 {
            let (a, b) = (r.arms[0].variant, r.arms[1].variant)
            out += "\(i.lists) lists to \(i.users) users: \(i.winsA) prefer \(a), \(i.winsB) prefer \(b), \(i.ties) neither; "
                + String(format: "preference for %@ %+.3f, sign test p %.4f, sequential p %.4f\n", b, i.preferenceForB, i.pValue, i.sequentialPValue)
            out += "variant      items shown  clicks     CTR of its items [95% CI]\n"
            for arm in r.arms {
                out += Terminal.padded(arm.variant, 12) + String(format: " %11d %7d  %6.2f%% [%5.2f, %5.2f]\n", arm.exposures.trials, arm.exposures.successes,
                              100 * arm.exposures.rate, 100 * arm.ctrInterval[0], 100 * arm.ctrInterval[1])
            }
            out += String(format: "items per team: χ² %.2f, p %.4f%@\n", r.sampleRatioChiSquare, r.sampleRatioPValue,
                          r.sampleRatioMismatch ? " — MISMATCH: one team's exposures are missing; do not trust these results" : " (consistent with the draft)")
            return out + "rule: \(r.stoppingRule)\n"
        }
        out += "variant        users   shown  clicks     CTR [95% CI]            conversion [95% CI]\n"
        for a in r.arms {
            out += Terminal.padded(a.variant, 12) + String(format: " %7d %7d %7d  %6.2f%% [%5.2f, %5.2f]   %6.2f%% [%5.2f, %5.2f]\n", a.users, a.exposures.trials, a.exposures.successes,
                          100 * a.exposures.rate, 100 * a.ctrInterval[0], 100 * a.ctrInterval[1],
                          100 * a.conversions.rate, 100 * a.conversionInterval[0], 100 * a.conversionInterval[1])
        }
        for a in r.arms {
            guard let ctr = a.ctr, let conversion = a.conversion else { continue }
            out += String(format: "%@ vs %@: CTR %+.2f points (%+.1f%%), z-test p %.4f, sequential p %.4f; conversion %+.2f points, p %.4f\n",
                          a.variant, r.arms[0].variant, 100 * ctr.difference, 100 * ctr.relativeLift, ctr.pValue, a.sequentialPValue ?? 1,
                          100 * conversion.difference, conversion.pValue)
        }
        if r.arms.contains(where: { $0.ctrDesignEffect != nil }) {
            out += "CTR design effect (variance over users ÷ as if every exposure were independent): "
                + r.arms.map { "\($0.variant) " + String(format: "%.2f", $0.ctrDesignEffect ?? 1) }.joined(separator: ", ") + "\n"
        }
        out += String(format: "sample ratio: χ² %.2f, p %.4f%@\n", r.sampleRatioChiSquare, r.sampleRatioPValue,
                      r.sampleRatioMismatch ? " — MISMATCH: the split is broken; do not trust these results" : " (consistent with the shares)")
        out += "rule: \(r.stoppingRule)\n"
        return out
    }
}
