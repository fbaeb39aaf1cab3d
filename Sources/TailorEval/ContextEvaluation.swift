import TailorData
import TailorLinalg
import TailorModels

/// Evaluation of a context-aware model as it would be served: each test user's vector is
/// computed in the context of their first held-out event (its device, platform, country, hour
/// and weekday), the context a live request for that moment would carry.
public enum ContextEvaluation {
    /// Each test user's request context, by the bundle's user position: the device, platform and
    /// country of their earliest test row (when the log has them) and its hour and weekday (UTC).
    /// Users the model does not know are left out.
    public static func firstTestContexts(test: Interactions, bundle: ModelBundle) -> [Int32: [String: String]] {
        let (order, offsets) = test.rowsByUser()
        var out: [Int32: [String: String]] = [:]
        for u in 0..<test.userIDs.count where offsets[u + 1] > offsets[u] {
            guard let position = bundle.userIDs.position(of: test.userIDs[Int32(u)]) else { continue }
            let row = order[offsets[u]]
            var context: [String: String] = [:]
            for (f, name) in ContextColumns.fields.enumerated() {
                if let value = test.context?.value(field: f, row: row) { context[name] = value }
            }
            // Hour and weekday rather than the time itself, so users at the same hour share a
            // context and are computed together.
            if let t = test.timestamps?[row] {
                context["hour"] = String(ContextColumns.hour(t))
                context["weekday"] = String(ContextColumns.weekday(t))
            }
            out[position] = context
        }
        return out
    }

    /// The full-ranking report of `bundle`'s model with each user in `contexts` served in their
    /// context (users without one keep their trained vectors). Users sharing a context are
    /// computed together.
    ///
    /// - Throws: ``ModelError`` when the model has no context features.
    public static func evaluate(bundle: ModelBundle, train: CSRMatrix, test: CSRMatrix, contexts: [Int32: [String: String]],
                                configuration: Evaluator.Configuration = .init()) throws -> EvaluationReport {
        guard let model = bundle.model as? any ColdStartScoring, !model.contextFeatures.isEmpty else {
            throw ModelError(.unsupported, reason: "the \(bundle.manifest.kind) model has no context features to evaluate in the test events' context",
                             hint: "train --model two-tower with --set 'context=[\"hour\",\"weekday\"]', or leave out --test-context")
        }
        var queries = model.userFactors
        var groups: [[String: String]: [Int32]] = [:]
        for (user, context) in contexts { groups[context, default: []].append(user) }
        for (context, users) in groups.sorted(by: { $0.value[0] < $1.value[0] }) {
            let vectors = try model.userVectors(users: users.map { $0 }, profiles: users.map { _ in nil }, histories: users.map { _ in nil }, context: context)
            for (n, u) in users.enumerated() { queries.setRow(Int(u), vectors.row(n)) }
        }
        let items = model.itemFactors, frozen = queries
        return Evaluator.evaluate(name: bundle.manifest.kind, userCount: model.userCount, itemCount: model.itemCount, train: train, test: test,
                                  configuration: configuration) { users, buffer in
            innerProducts(frozen, rows: users, items, into: buffer)
        }
    }
}
