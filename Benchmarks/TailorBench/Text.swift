// tailor-bench text: the Swift half of Benchmarks/text_encoder_vs_torch.py.
//   tailor-bench text --model DIR --input texts.json [--ids ids.json] [--vectors v.f32]
//                     [--threads 2] [--rounds 3] [--batch 64] [--save DIR]
// Loads the encoder (reporting seconds and resident memory), writes the token ids and vectors of
// every text, then times `rounds` full encodes of all texts (tokenization included, as
// sentence-transformers' encode does) and prints one JSON line.
import Foundation
import TailorLinalg
import TailorText

func stringArgument(_ name: String) -> String? {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: name), i + 1 < args.count { return args[i + 1] }
    return nil
}

func benchText() {
    guard let model = stringArgument("--model"), let input = stringArgument("--input") else {
        FileHandle.standardError.write("usage: tailor-bench text --model DIR --input texts.json [--ids F] [--vectors F] [--threads N] [--rounds N] [--batch N] [--int8]\n".data(using: .utf8)!)
        exit(2)
    }
    let threads = argument("--threads", default: 2), rounds = argument("--rounds", default: 3), batch = argument("--batch", default: 64)
    let texts: [String]
    do { texts = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: input))) } catch {
        FileHandle.standardError.write("cannot read \(input): \(error)\n".data(using: .utf8)!)
        exit(1)
    }
    let int8 = CommandLine.arguments.contains("--int8")
    let rssBefore = residentMiB()
    let t0 = now()
    let encoder: SentenceEncoder
    do { encoder = try SentenceEncoder.load(directory: URL(fileURLWithPath: model), quantization: int8 ? .int8 : .none) } catch {
        FileHandle.standardError.write("\(error)\n".data(using: .utf8)!)
        exit(1)
    }
    let loadSeconds = now() - t0
    let rssLoaded = residentMiB()
    if let path = stringArgument("--save") { try! encoder.save(to: URL(fileURLWithPath: path)) }
    if let path = stringArgument("--ids") {
        let ids = encoder.tokenize(texts, threads: threads)
        try! JSONEncoder().encode(ids).write(to: URL(fileURLWithPath: path))
    }
    let vectors = encoder.encode(texts, batchSize: batch, threads: threads)
    if let path = stringArgument("--vectors") {
        try! vectors.storage.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: path))
    }
    var times: [Double] = []
    for _ in 0..<rounds {
        let start = now()
        _ = encoder.encode(texts, batchSize: batch, threads: threads)
        times.append(now() - start)
    }
    times.sort()
    let median = times.isEmpty ? 0 : times[times.count / 2]
    emit(["bench": "text", "texts": texts.count, "seconds_median": median, "sentences_per_second": median > 0 ? Double(texts.count) / median : 0,
          "load_seconds": loadSeconds, "rss_before_mib": rssBefore, "rss_loaded_mib": rssLoaded, "rss_after_mib": residentMiB(),
          "threads": threads, "batch": batch, "dimension": encoder.dimension, "max_length": encoder.maxLength,
          "quantization": encoder.encoder.quantization.rawValue, "int8_vnni": Kernels.int8VNNI])
}

// tailor-bench text-stream --model DIR --input texts.json --count N [--int8] [--threads 2]
// Encodes N texts (the input's texts cycled, each with its number appended so no two are
// equal) through the streaming `encode(_:batchSize:threads:body:)`, vectors dropped after a
// checksum, and samples resident memory as it goes: the vectors of N items (N × 384 floats)
// are never held, so memory after the first block should stay flat.
func benchTextStream() {
    guard let model = stringArgument("--model"), let input = stringArgument("--input") else {
        FileHandle.standardError.write("usage: tailor-bench text-stream --model DIR --input texts.json --count N [--int8] [--threads N]\n".data(using: .utf8)!)
        exit(2)
    }
    let count = argument("--count", default: 1_000_000), threads = argument("--threads", default: 2)
    let int8 = CommandLine.arguments.contains("--int8")
    let seeds = try! JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: input)))
    let texts = (0..<count).map { "\(seeds[$0 % seeds.count]) \($0)" }
    let encoder = try! SentenceEncoder.load(directory: URL(fileURLWithPath: model), quantization: int8 ? .int8 : .none)
    let rssBefore = residentMiB()
    var done = 0, checksum: Double = 0, samples: [[String: Double]] = []
    var nextSample = 0
    let start = now()
    encoder.encode(texts, batchSize: 64, threads: threads) { positions, vectors in
        done += positions.count
        checksum += Double(vectors.first ?? 0)
        if done >= nextSample {
            samples.append(["texts": Double(done), "rss_mib": residentMiB(), "seconds": now() - start])
            nextSample += max(1, count / 20)
        }
    }
    let seconds = now() - start
    let afterFirst = samples.dropFirst().map { $0["rss_mib"]! }
    emit(["bench": "text-stream", "texts": count, "seconds": seconds, "sentences_per_second": Double(count) / seconds,
          "quantization": int8 ? "int8" : "none", "rss_with_texts_and_model_mib": rssBefore, "rss_max_mib": afterFirst.max() ?? .nan,
          "rss_min_after_first_sample_mib": afterFirst.min() ?? .nan, "vectors_mib_if_held": Double(count * encoder.dimension * 4) / 1_048_576,
          "checksum": checksum, "samples": samples])
}
