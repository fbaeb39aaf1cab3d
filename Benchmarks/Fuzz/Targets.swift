// libFuzzer entry points for Tailor's readers: every input must give a result or a thrown error,
// never a trap, a hang or a memory error (AddressSanitizer watches). Built and run by
// Benchmarks/fuzz.sh; the target is chosen at compile time with -D FUZZ_LOG, FUZZ_EVENTS,
// FUZZ_ITEMS or FUZZ_SAFETENSORS.
import Foundation
import TailorData
import TailorLinalg

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    #if FUZZ_LOG
    // The interaction log reader, under each format the detector can pick.
    for format: LogFormat in [.auto, .delimited(.comma), .delimited(.whitespace), .delimited(.doubleColon), .jsonLines] {
        var c = InteractionReader.Configuration()
        c.format = format
        c.allowEmpty = true
        _ = try? InteractionReader.read(bytes: bytes, name: "fuzz", configuration: c)
    }
    #elseif FUZZ_EVENTS
    let text = String(decoding: bytes, as: UTF8.self)
    _ = try? EventReader.read(text: text, name: "fuzz") { _ in }
    #elseif FUZZ_ITEMS
    let text = String(decoding: bytes, as: UTF8.self)
    _ = try? CatalogReader.readItems(text: text, name: "fuzz")
    _ = try? CatalogReader.readUsers(text: text, name: "fuzz")
    #elseif FUZZ_SAFETENSORS
    if let (tensors, _) = try? SafeTensors.decode(Data(bytes), path: "fuzz") {
        for t in tensors.values { _ = t.floats(); _ = t.int32s(); _ = t.int64s(); _ = t.matrix() }
    }
    #endif
    return 0
}
