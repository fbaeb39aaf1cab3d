// Parsing field bytes into numbers, timestamps and text without creating intermediate strings.

enum ValueParsing {
    /// A finite number from ASCII bytes: `[+-]digits[.digits][e[+-]digits]`, surrounding spaces
    /// allowed. `nil` for anything else, including NaN and infinities.
    static func double(_ b: UnsafeBufferPointer<UInt8>) -> Double? {
        var i = 0, n = b.count
        while i < n && (b[i] == 32 || b[i] == 9) { i += 1 }
        while n > i && (b[n - 1] == 32 || b[n - 1] == 9) { n -= 1 }
        guard i < n else { return nil }
        var negative = false
        if b[i] == 45 || b[i] == 43 { negative = b[i] == 45; i += 1 }
        var mantissa: UInt64 = 0
        var digits = 0, fractionDigits = 0
        var sawDot = false
        while i < n {
            let c = b[i]
            if c >= 48 && c <= 57 {
                if digits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(c &- 48)
                    digits += 1
                    if sawDot { fractionDigits += 1 }
                } else if !sawDot {
                    return slowDouble(b)  // too many digits for the fast path
                }
            } else if c == 46 && !sawDot {
                sawDot = true
            } else if c == 101 || c == 69 {
                return slowDouble(b)
            } else {
                return nil
            }
            i += 1
        }
        guard digits > 0 else { return nil }
        var value = Double(mantissa)
        if fractionDigits > 0 { value /= powersOfTen[fractionDigits] }
        return negative ? -value : value
    }

    static let powersOfTen: [Double] = (0...19).map { p in (0..<p).reduce(1.0) { r, _ in r * 10 } }

    static func slowDouble(_ b: UnsafeBufferPointer<UInt8>) -> Double? {
        let text = String(decoding: b, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        guard let v = Double(text), v.isFinite else { return nil }
        return v
    }

    /// Unix seconds from a field: a number (seconds, fractions floored) or a date/time text in
    /// one of the forms ``parseDate(_:)`` accepts.
    static func timestamp(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
        if let v = double(b) {
            guard abs(v) < 1e15 else { return nil }
            return Int64(v.rounded(.down))
        }
        return parseDate(b)
    }

    /// Unix seconds (UTC) from `YYYY-MM-DD`, `YYYY-MM-DD[T ]HH:MM[:SS[.fff]][Z|±HH[:MM]]`, or
    /// `M/D/YYYY[ h:mm[:ss][ AM|PM]]` (US order, as in the MIND logs). Times without an offset
    /// are taken as UTC.
    static func parseDate(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
        var s = Substring(String(decoding: b, as: UTF8.self).trimmingCharacters(in: .whitespaces)).utf8[...]
        func number(_ maxDigits: Int) -> Int? {
            var v = 0, count = 0
            while let c = s.first, c >= 48, c <= 57, count < maxDigits {
                v = v * 10 + Int(c - 48); count += 1; s = s.dropFirst()
            }
            return count > 0 ? v : nil
        }
        func take(_ c: UInt8) -> Bool {
            if s.first == c { s = s.dropFirst(); return true }
            return false
        }
        var year = 0, month = 0, day = 0
        guard let first = number(4) else { return nil }
        if take(45) {  // ISO: YYYY-MM-DD
            guard let m = number(2), take(45), let d = number(2) else { return nil }
            (year, month, day) = (first, m, d)
        } else if take(47) {  // US: M/D/YYYY
            guard let d = number(2), take(47), let y = number(4) else { return nil }
            (year, month, day) = (y, first, d)
        } else {
            return nil
        }
        guard (1...12).contains(month), (1...31).contains(day) else { return nil }
        var hour = 0, minute = 0, second = 0, offset = 0
        if take(84) || take(32) || take(116) {  // 'T', ' ', 't'
            while take(32) {}
            guard let h = number(2), take(58), let mi = number(2) else { return nil }
            (hour, minute) = (h, mi)
            if take(58) { guard let sec = number(2) else { return nil }; second = sec }
            if take(46) { _ = number(9) }  // fractional seconds, dropped
            while take(32) {}
            if take(65) || take(97) {  // AM
                guard take(77) || take(109) else { return nil }
                if hour == 12 { hour = 0 }
            } else if take(80) || take(112) {  // PM
                guard take(77) || take(109) else { return nil }
                if hour < 12 { hour += 12 }
            }
            if take(90) || take(122) {
                // 'Z': UTC
            } else if let sign = s.first, sign == 43 || sign == 45 {
                s = s.dropFirst()
                guard let oh = number(2) else { return nil }
                _ = take(58)
                let om = number(2) ?? 0
                offset = (oh * 3600 + om * 60) * (sign == 45 ? -1 : 1)
            }
        }
        guard s.isEmpty, hour < 24, minute < 60, second <= 60 else { return nil }
        return Int64(daysFromCivil(year, month, day)) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offset)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Text of a field: UTF-8 when valid, otherwise each byte read as Latin-1 (ISO-8859-1),
    /// which is what older files such as MovieLens `u.item` use. The flag says which.
    static func text(_ b: UnsafeBufferPointer<UInt8>) -> (String, latin1: Bool) {
        if let s = String(validating: b, as: UTF8.self) { return (s, false) }
        var scalars = String.UnicodeScalarView()
        for byte in b { scalars.append(Unicode.Scalar(byte)) }
        return (String(scalars), true)
    }
}

import Foundation
