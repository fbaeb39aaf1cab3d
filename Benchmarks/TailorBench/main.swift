// Micro-benchmarks of Tailor's kernels (release builds only):
//   swift run -c release tailor-bench gemm [--threads N]
//   swift run -c release tailor-bench als-step
//   swift run -c release tailor-bench text --model DIR --input texts.json
// Prints one JSON object per measurement so scripts in Benchmarks/ can compare with numpy/torch.
import Foundation
import Synchronization
import TailorLinalg
import TailorData
import TailorAutodiff
import TailorNN

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Best and median seconds of `samples` runs of `body`, after warming up for at least 0.2 s:
/// an idle core here runs at about half speed for its first ~30 ms of work
/// (`tailor-bench micro`), so a single warm-up call is not enough.
func measure(samples: Int = 7, _ body: () -> Void) -> (best: Double, median: Double) {
    let warm = now()
    repeat { body() } while now() - warm < 0.2
    var times: [Double] = []
    for _ in 0..<samples {
        let t0 = now(); body(); times.append(now() - t0)
    }
    times.sort()
    return (times[0], times[times.count / 2])
}

func emit(_ fields: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

func argument(_ name: String, default value: Int) -> Int {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) { return v }
    return value
}

func randomMatrix(_ rows: Int, _ columns: Int, seed: UInt64) -> Matrix {
    var rng = TailorRandom(seed: seed)
    return Matrix(rows: rows, columns: columns, storage: (0..<(rows * columns)).map { _ in rng.nextFloat() - 0.5 })
}

func benchGEMM() {
    let threads = argument("--threads", default: 1)
    let sizes = CommandLine.arguments.firstIndex(of: "--sizes").map { CommandLine.arguments[$0 + 1].split(separator: ",").map { Int($0)! } } ?? [64, 128, 256, 512, 1024]
    for n in sizes {
        let a = randomMatrix(n, n, seed: 1), b = randomMatrix(n, n, seed: 2)
        var c = Matrix(rows: n, columns: n)
        let samples = n >= 1024 ? 5 : 9
        let (best, median) = measure(samples: samples) {
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                Kernels.gemm(m: n, n: n, k: n, a: ap.baseAddress!, lda: n, b: bp.baseAddress!, ldb: n,
                             c: cp.baseAddress!, ldc: n, threads: threads)
            } } }
        }
        let flops = 2.0 * Double(n * n * n)
        emit(["bench": "gemm", "n": n, "threads": threads, "gflops_best": flops / best / 1e9,
              "gflops_median": flops / median / 1e9, "fma": kernelsUseFMA])
    }
}

func benchALSStep() {
    let k = argument("--factors", default: 64), perUser = argument("--items-per-user", default: 20)
    let items = 20_000
    let y = randomMatrix(items, k, seed: 3)
    var gram = y.gram()
    for i in 0..<k { gram[i, i] += 0.05 }
    var rng = TailorRandom(seed: 4)
    let users = 2000
    let indices = (0..<(users * perUser)).map { _ in Int32(rng.nextInt(below: items)) }
    let conf = [Float](repeating: 2, count: users * perUser)
    var x = [Float](repeating: 0.01, count: k)
    var scratch = [Float](repeating: 0, count: Kernels.implicitExactScratchCount(k: k, count: perUser) + 3 * k)
    let solvers = CommandLine.arguments.contains("--cg-only") ? [false] : [false, true]
    for exact in solvers {
        let (best, median) = measure {
            gram.withUnsafeBufferPointer { g in y.withUnsafeBufferPointer { f in
                for u in 0..<users {
                    indices.withUnsafeBufferPointer { ix in conf.withUnsafeBufferPointer { c in
                        if exact {
                            _ = Kernels.implicitLeastSquaresExact(gram: g.baseAddress!, factors: f.baseAddress!, k: k,
                                indices: ix.baseAddress! + u * perUser, confidences: c.baseAddress! + u * perUser,
                                count: perUser, x: &x, scratch: &scratch, block: perUser)
                        } else {
                            Kernels.implicitLeastSquaresCG(gram: g.baseAddress!, factors: f.baseAddress!, k: k,
                                indices: ix.baseAddress! + u * perUser, confidences: c.baseAddress! + u * perUser,
                                count: perUser, x: &x, steps: 3, scratch: &scratch)
                        }
                    } }
                }
            } }
        }
        emit(["bench": exact ? "als-user-step-cholesky" : "als-user-step-cg3", "factors": k, "items_per_user": perUser,
              "us_per_user_best": best / Double(users) * 1e6, "us_per_user_median": median / Double(users) * 1e6])
    }
}

func benchParse() {
    let path = CommandLine.arguments.last!
    let t = measure(samples: 3) {
        var n = 0
        _ = try! EventReader.read(path: path) { n += $0.count }
    }
    emit(["bench": "parse-events", "seconds_best": t.best])
}

/// How parallelFor behaves for short jobs: wall time of 2 chunks of `us` µs of spinning each,
/// and how often both chunks ran on the same worker (the second thread came too late).
func benchParallel() {
    for us in [20.0, 100.0, 1000.0] {
        var serial = 0, times: [Double] = []
        for _ in 0..<200 {
            let workers = Mutex<[Int]>([])
            let t0 = now()
            parallelFor(2, chunkSize: 1, threads: 2) { chunk in
                let end = now() + us * 1e-6
                while now() < end {}
                workers.withLock { $0.append(chunk.worker) }
            }
            times.append(now() - t0)
            if Set(workers.withLock { $0 }).count == 1 { serial += 1 }
        }
        times.sort()
        emit(["bench": "parallel-for", "chunk_us": us, "median_us": times[100] * 1e6, "p90_us": times[180] * 1e6,
              "same_worker_fraction": Double(serial) / 200])
    }
}

/// The 6×16 micro-kernel alone on L1-resident panels, on `--threads` threads at once: the
/// machine's arithmetic ceiling, to tell host noise from memory effects.
func benchMicroKernel() {
    let threads = argument("--threads", default: 1), kb = 256
    for round in 0..<argument("--rounds", default: 10) {
        let t0 = now()
        let reps = 4000
        parallelFor(threads, chunkSize: 1, threads: threads) { _ in
            let a = UnsafeMutablePointer<Float>.allocate(capacity: 6 * kb), b = UnsafeMutablePointer<Float>.allocate(capacity: 16 * kb)
            let c = UnsafeMutablePointer<Float>.allocate(capacity: 96)
            for i in 0..<(6 * kb) { a[i] = Float(i % 7) * 0.01 }
            for i in 0..<(16 * kb) { b[i] = Float(i % 5) * 0.01 }
            for _ in 0..<reps { Kernels.microKernel6x16(kb, a, rowStride: 1, depthStride: 6, b, c, 16, 6, 16, 1, 1) }
            a.deallocate(); b.deallocate(); c.deallocate()
        }
        let flops = Double(threads * reps) * 2 * 6 * 16 * Double(kb)
        emit(["bench": "micro-kernel", "round": round, "threads": threads, "gflops": flops / (now() - t0) / 1e9])
    }
}

/// Resident set size in MiB (from /proc/self/statm).
func residentMiB() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return .nan }
    let fields = text.split(separator: " ")
    return Double(fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
}

/// One training-step workload of the neural engine, built identically by `nn_vs_torch.py`.
struct StepWorkload {
    let name: String
    let parameters: [(String, Parameter)]
    let step: (Tape) -> Float
}

func mlpWorkload() -> StepWorkload {
    let batch = 512
    let model = MLP([256, 512, 512, 256], seed: 1)
    let x = Tensor.normal(shape: [batch, 256], seed: 2), y = Tensor.normal(shape: [batch, 256], seed: 3)
    return StepWorkload(name: "mlp", parameters: model.namedParameters()) { tape in
        let loss = Loss.meanSquaredError(model(tape.constant(x)), y)
        tape.backward(loss)
        return loss.scalar
    }
}

func transformerWorkload() -> StepWorkload {
    let (batch, length, width) = (128, 50, 64)
    let blocks = (0..<2).map { TransformerEncoderBlock(width: width, heads: 2, feedForward: 4 * width, dropout: 0.1, seed: UInt64(10 + $0)) }
    let x = Tensor.normal(shape: [batch, length, width], seed: 4), y = Tensor.normal(shape: [batch, length, width], seed: 5)
    let parameters = blocks.enumerated().flatMap { i, b in b.namedParameters(prefix: "\(i).") }
    return StepWorkload(name: "transformer", parameters: parameters) { tape in
        var h = tape.constant(x)
        for block in blocks { h = block(h) }
        let loss = Loss.meanSquaredError(h, y)
        tape.backward(loss)
        return loss.scalar
    }
}

/// Seconds per training step (forward + backward + Adam) of the named workload: median and
/// best over `--steps` steps after 2 s of warm-up; `--rss-every N` instead prints the resident
/// set every N steps (the memory check).
func benchNN(_ which: String) {
    let workload = which == "nn-mlp" ? mlpWorkload() : transformerWorkload()
    let adam = Adam(workload.parameters, learningRate: 1e-3)
    var stepIndex = 0
    func step() -> Float {
        let tape = Tape(training: true, seed: UInt64(stepIndex))
        stepIndex += 1
        adam.zeroGrad()
        let loss = workload.step(tape)
        adam.step()
        return loss
    }
    let rssEvery = argument("--rss-every", default: 0)
    let steps = argument("--steps", default: 30)
    if rssEvery > 0 {
        let t0 = now()
        for i in 0..<steps {
            let loss = step()
            if i % rssEvery == 0 || i == steps - 1 {
                emit(["bench": "\(workload.name)-memory", "step": i, "rss_mib": residentMiB(), "loss": Double(loss), "seconds": now() - t0])
            }
        }
        return
    }
    let warm = now()
    var first: Float = 0
    repeat { first = step() } while now() - warm < 2
    var times: [Double] = []
    var last: Float = 0
    for _ in 0..<steps {
        let t0 = now(); last = step(); times.append(now() - t0)
    }
    times.sort()
    emit(["bench": workload.name, "ms_median": times[times.count / 2] * 1e3, "ms_best": times[0] * 1e3,
          "steps": steps, "loss_first": Double(first), "loss_last": Double(last), "threads": effectiveThreadCount(0)])
}

// The program, not the library, decides to tune malloc for training (TailorAutodiff.MemoryTuning).
MemoryTuning.apply()
let command = CommandLine.arguments.dropFirst().first ?? "gemm"
switch command {
case "gemm": benchGEMM()
case "als-step": benchALSStep()
case "parse-events": benchParse()
case "parallel": benchParallel()
case "micro": benchMicroKernel()
case "nn-mlp", "nn-transformer": benchNN(command)
case "nn-parity": benchParity()
case "text": benchText()
case "text-stream": benchTextStream()
case "ann": benchANN()
case "abtest": benchABTest()
default:
    FileHandle.standardError.write("usage: tailor-bench gemm [--threads N] [--sizes 64,128] | als-step | parse-events FILE | parallel | micro [--threads N] | nn-mlp | nn-transformer [--steps N] [--rss-every N] | nn-parity --dir DIR | text --model DIR --input texts.json | ann --model DIR [--quantized] | abtest [--runs N]\n".data(using: .utf8)!)
    exit(2)
}


