import Foundation
import Testing
@testable import TailorData

/// Reads `text` with the default configuration (or `configure`d).
func read(_ text: String, _ configure: (inout InteractionReader.Configuration) -> Void = { _ in }) throws -> (Interactions, InteractionReader.ReadReport) {
    var c = InteractionReader.Configuration()
    configure(&c)
    return try InteractionReader.read(text: text, name: "log.csv", configuration: c)
}

func triples(_ log: Interactions) -> [String] {
    (0..<log.count).map { "\(log.userIDs[log.users[$0]])/\(log.itemIDs[log.items[$0]])/\(log.values[$0])" }.sorted()
}

@Suite("Reading logs")
struct ReaderTests {
    @Test("CSV with a header, columns found by name")
    func csvHeader() throws {
        let (log, report) = try read("userId,movieId,rating,timestamp\n1,10,4.5,964982703\n2,10,3,964982224\n1,20,5,964983815\n")
        #expect(report.header)
        #expect(report.columns == ["user": "userId", "item": "movieId", "rating": "rating", "time": "timestamp"])
        #expect(triples(log) == ["1/10/4.5", "1/20/5.0", "2/10/3.0"])
        #expect(log.timestamps?.contains(964_983_815) == true)
        #expect(report.users == 2 && report.items == 2 && report.interactions == 3)
    }

    @Test("tab-separated without a header is user, item, rating, time (ml-100k u.data)")
    func tsvNoHeader() throws {
        let (log, report) = try read("196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
        #expect(!report.header)
        #expect(report.format.contains("\\t"))
        #expect(report.columns == ["user": "#1", "item": "#2", "rating": "#3", "time": "#4"])
        #expect(triples(log) == ["186/302/3.0", "196/242/3.0"])
    }

    @Test("'::' separated (ml-1m ratings.dat)")
    func doubleColon() throws {
        let (log, report) = try read("1::1193::5::978300760\n1::661::3::978302109\n")
        #expect(report.format.contains("::"))
        #expect(triples(log) == ["1/1193/5.0", "1/661/3.0"])
    }

    @Test("whitespace-separated with runs of spaces and tabs")
    func whitespace() throws {
        let (log, _) = try read("  u1   i1 \t 2\nu2 i1 1\n")
        #expect(triples(log) == ["u1/i1/2.0", "u2/i1/1.0"])
    }

    @Test("sequence files (user item1 item2 …): detected, each item's position is its time, a user without items is a reported row")
    func sequences() throws {
        let text = "1 5 6 7\n2 7 5\n3\n1 9 5\r\n"
        let (log, report) = try read(text)
        #expect(report.format.contains("sequences"))
        // User 1's second line continues their sequence: 9 at time 3; the repeated 5 merges
        // into one row with the later time (4).
        var times: [String: Int64] = [:]
        for r in 0..<log.count { times["\(log.userIDs[log.users[r]])/\(log.itemIDs[log.items[r]])"] = log.timestamps![r] }
        #expect(times == ["1/5": 4, "1/6": 1, "1/7": 2, "1/9": 3, "2/7": 0, "2/5": 1])
        #expect(report.rowsSkipped == 1 && report.problems.first?.line == 3 && report.problems.first!.reason.contains("no items"))
        #expect(log.values.allSatisfy { $0 >= 1 })
        // Lines of equal length are sequences too from six fields on; `user item rating time` is not.
        #expect(try read("1 4 5 6 7 8\n2 5 6 7 8 9\n").1.format.contains("sequences"))
        #expect(try !read("1 4 5 978300760\n2 5 3 978300761\n").1.format.contains("sequences"))
        // The SASRec papers' `user item` lines (two fields each) stay a whitespace log in file order.
        let (pairs, pairReport) = try read("1 5\n1 6\n2 5\n")
        #expect(!pairReport.format.contains("sequences") && triples(pairs) == ["1/5/1.0", "1/6/1.0", "2/5/1.0"])
        // Asked for by name, and strict mode stops at the empty user.
        let (named, _) = try read("a x y\nb y\n") { $0.format = try! LogFormat(parsing: "sequences") }
        #expect(triples(named) == ["a/x/1.0", "a/y/1.0", "b/y/1.0"])
        #expect { try read(text) { $0.format = .sequences; $0.strict = true } } throws: { "\($0)".contains("log.csv:3") && "\($0)".contains("no items") }
    }

    @Test("UTF-8 byte-order mark and CRLF line endings")
    func bomAndCRLF() throws {
        let (log, report) = try read("\u{FEFF}user,item,rating\r\nа,b,1\r\nc,d,2\r\n")
        #expect(report.header && report.columns["user"] == "user")
        #expect(triples(log) == ["c/d/2.0", "а/b/1.0"])
    }

    @Test("Latin-1 text is decoded and counted")
    func latin1() throws {
        var bytes = Array("user,item\n".utf8)
        bytes += [0x4A, 0xE9, 0x72, 0xF4, 0x6D, 0x65, 0x2C, 0x78, 0x0A]  // "Jérôme,x" in ISO-8859-1
        let (log, report) = try bytes.withUnsafeBufferPointer {
            try InteractionReader.read(bytes: $0, name: "latin1.csv", configuration: .init())
        }
        #expect(log.userIDs.ids == ["Jérôme"])
        #expect(report.latin1Fields == 1)
    }

    @Test("quoted fields with delimiters, doubled quotes and line breaks")
    func quotes() throws {
        let text = "user,item,rating\n\"Smith, J\",\"The \"\"Best\"\" one\",4\n\"multi\nline\",x,1\nplain,\"y\" ,2\n"
        let (log, report) = try read(text)
        #expect(report.rowsSkipped == 0)
        #expect(Set(log.userIDs.ids) == ["Smith, J", "multi\nline", "plain"])
        #expect(Set(log.itemIDs.ids) == ["The \"Best\" one", "x", "y"])
    }

    @Test("blank lines are ignored and line numbers stay right")
    func blankLines() throws {
        let (log, report) = try read("user,item,rating\n\n1,2,3\n   \n1,3,oops\n\n")
        #expect(log.count == 1)
        #expect(report.problems == [.init(line: 5, reason: "rating 'oops' is not a number")])
    }

    @Test("malformed rows are skipped, counted and reported with line numbers")
    func malformed() throws {
        let text = """
        user,item,rating,timestamp
        1,2,5,100
        1,3
        ,4,1,100
        2,5,x,100
        2,6,1,yesterday
        3,7,4,"unterminated
        """
        let (log, report) = try read(text)
        #expect(log.count == 1)
        #expect(report.rowsRead == 6 && report.rowsSkipped == 5)
        #expect(report.problems.map(\.line) == [3, 4, 5, 6, 7])
        #expect(report.problems[0].reason == "expected at least 4 fields, found 2")
        #expect(report.problems[1].reason == "empty user id")
        #expect(report.problems[2].reason.contains("'x' is not a number"))
        #expect(report.problems[3].reason.contains("not a Unix time or a date"))
        #expect(report.problems[4].reason.contains("not closed on its line"))
        #expect(report.summary.contains("skipped 5 malformed rows"))
    }

    @Test("a stray quote mid-file loses only its own row: every later row is kept", arguments: ["\n", "\r\n"])
    func strayQuote(newline: String) throws {
        // 5,000 rows with an unclosed quote in row 2,500 (the review's case): before the fix the
        // scanner ran to the end of the file and kept only the rows before it.
        var rows = ["user,item,rating,timestamp"]
        for k in 0..<5_000 {
            rows.append(k == 2_500 ? "u1,\"i2,3,1600000000" : "u\(k % 97),i\(k),\(1 + k % 5),\(1_600_000_000 + k)")
        }
        let (log, report) = try read(rows.joined(separator: newline) + newline)
        #expect(log.count == 4_999)
        #expect(report.rowsSkipped == 1 && report.problems.map(\.line) == [2_502])
        #expect(report.problems[0].reason.contains("not closed on its line"))
        // A later quote that "closes" the broken one must not swallow the rows in between.
        let text = "user,item,rating\nu1,\"i1,1\nu2,i2,1\nu3,i3,1\nu4,\"i4\",1\nu5,i5,1\n"
        let (log2, report2) = try read(text)
        #expect(triples(log2) == ["u2/i2/1.0", "u3/i3/1.0", "u4/i4/1.0", "u5/i5/1.0"])
        #expect(report2.problems.map(\.line) == [2])
    }

    @Test("a quoted field that really spans lines is still one field")
    func multilineField() throws {
        let (log, report) = try read("user,item,rating\nu1,\"two\nlines\",4\nu2,i2,1\n")
        #expect(report.rowsSkipped == 0)
        #expect(triples(log) == ["u1/two\nlines/4.0", "u2/i2/1.0"])
    }

    @Test("JSON Lines with a huge or non-finite timestamp: that row is reported, the rest kept")
    func hugeJSONTimestamp() throws {
        let text = """
        {"user": "a", "item": "x", "timestamp": 1600000000}
        {"user": "b", "item": "y", "timestamp": 1e300}
        {"user": "c", "item": "z", "timestamp": -1e19}
        {"user": "d", "item": "w", "timestamp": 1600000001}
        """
        let (log, report) = try read(text)
        #expect(log.count == 2 && report.rowsSkipped == 2)
        #expect(report.problems.map(\.line) == [2, 3])
    }

    @Test("only the first few problems are described, all are counted")
    func problemLimit() throws {
        let text = "user,item,rating\n" + (1...20).map { "u\($0),i,bad" }.joined(separator: "\n") + "\nu,i,1\n"
        let (_, report) = try read(text)
        #expect(report.rowsSkipped == 20 && report.problems.count == 5)
    }

    @Test("--strict stops at the first malformed row naming file:line")
    func strict() throws {
        #expect {
            try read("user,item,rating\n1,2,3\n1,3,abc\n") { $0.strict = true }
        } throws: { error in
            "\(error)".hasPrefix("log.csv:3: rating 'abc' is not a number")
        }
    }

    @Test("an empty file and a header-only file are clear errors")
    func empty() throws {
        #expect { try read("") } throws: { "\($0)".contains("log.csv: is empty") }
        #expect { try read("\n\n") } throws: { "\($0)".contains("is empty") }
        #expect { try read("userId,movieId,rating\n") } throws: { "\($0)".contains("has a header but no data rows") }
        let (log, _) = try read("") { $0.allowEmpty = true }
        #expect(log.count == 0)
    }

    @Test("a file where every row is malformed says so")
    func allMalformed() throws {
        #expect { try read("user,item,rating\na,b,c\n") } throws: { "\($0)".contains("no usable rows") }
    }

    @Test("a header with names nobody knows falls back to positions, and the report says so")
    func unknownHeader() throws {
        let (log, report) = try read("who,what,how much\nann,tea,2\nbob,tea,1\n")
        #expect(report.header)
        #expect(report.columns == ["user": "who", "item": "what", "rating": "how much"])
        #expect(triples(log) == ["ann/tea/2.0", "bob/tea/1.0"])
    }

    @Test("columns chosen by name or by 1-based position")
    func columnSelection() throws {
        let text = "ts,product,who,stars\n100,p1,alice,5\n200,p2,bob,3\n"
        let (byName, report) = try read(text) {
            $0.columns = try! ColumnSelection(parsing: "user=who,item=product,rating=stars,time=ts")
        }
        #expect(report.columns == ["user": "who", "item": "product", "rating": "stars", "time": "ts"])
        #expect(triples(byName) == ["alice/p1/5.0", "bob/p2/3.0"])
        let (byPosition, _) = try read("100\tp1\talice\t5\n") {
            $0.columns = try! ColumnSelection(parsing: "user=3,item=2,rating=4,time=1")
        }
        #expect(triples(byPosition) == ["alice/p1/5.0"])
        #expect(byPosition.timestamps == [100])
    }

    @Test("bad column selections name the problem")
    func badColumns() throws {
        #expect(throws: DataError.self) { try ColumnSelection(parsing: "user") }
        #expect { try ColumnSelection(parsing: "colour=1") } throws: { "\($0)".contains("unknown role 'colour'") }
        #expect { try ColumnSelection(parsing: "user=0") } throws: { "\($0)".contains("count from 1") }
        #expect {
            try read("a,b\n1,2\n") { $0.columns = try! ColumnSelection(parsing: "user=who,item=b") }
        } throws: { "\($0)".contains("no column named 'who'") && "\($0)".contains("a, b") }
        #expect {
            try read("alice\nbob\n")
        } throws: { "\($0)".contains("has only one column") }
    }

    @Test("a minimum rating turns ratings into implicit feedback")
    func minimumRating() throws {
        let (log, report) = try read("user,item,rating\n1,a,5\n1,b,2\n2,a,4\n") { $0.minimumRating = 4 }
        #expect(triples(log) == ["1/a/1.0", "2/a/1.0"])
        #expect(report.rowsBelowMinimumRating == 1)
        #expect { try read("user,item\n1,a\n") { $0.minimumRating = 4 } } throws: { "\($0)".contains("no rating column") }
    }

    @Test("duplicate (user, item) rows are merged by the chosen rule", arguments: [
        (DuplicateRule.sum, Float(9)), (.last, 2), (.first, 3), (.max, 4),
    ])
    func duplicates(rule: DuplicateRule, expected: Float) throws {
        // Times are out of file order on purpose: 'last' means latest in time.
        let text = "user,item,rating,timestamp\nu,i,4,200\nu,i,2,300\nu,i,3,100\nu,j,1,50\n"
        let (log, report) = try read(text) { $0.duplicates = rule }
        #expect(report.duplicatesMerged == 2)
        let row = (0..<log.count).first { log.itemIDs[log.items[$0]] == "i" }!
        #expect(log.values[row] == expected)
        #expect(log.timestamps?[row] == 300)
    }

    @Test("JSON Lines with string and number values")
    func jsonLines() throws {
        let text = """
        {"user_id": "alice", "item_id": 42, "rating": 4.5, "timestamp": "2024-01-02T03:04:05Z"}

        {"user_id": "bob", "item_id": "x", "rating": 2, "timestamp": 1704164645}
        not json
        {"user_id": "carol", "rating": 1, "timestamp": 1}
        """
        let (log, report) = try read(text)
        #expect(report.format == "JSON Lines")
        #expect(triples(log) == ["alice/42/4.5", "bob/x/2.0"])
        #expect(log.timestamps?.sorted() == [1_704_164_645, 1_704_164_645])
        #expect(report.problems.map(\.line) == [4, 5])
    }

    @Test("dates in ISO 8601 and US order parse to UTC seconds")
    func dates() {
        func parse(_ s: String) -> Int64? { var s = s; return s.withUTF8 { ValueParsing.timestamp($0) } }
        #expect(parse("1970-01-01") == 0)
        #expect(parse("2024-01-02T03:04:05Z") == 1_704_164_645)
        #expect(parse("2024-01-02 03:04:05") == 1_704_164_645)
        #expect(parse("2024-01-02T05:04:05+02:00") == 1_704_164_645)
        #expect(parse("2024-01-02T03:04:05.250Z") == 1_704_164_645)
        #expect(parse("11/12/2019 2:14:46 PM") == 1_573_568_086)
        #expect(parse("11/12/2019 12:14:46 AM") == 1_573_517_686)
        #expect(parse("964982703") == 964_982_703)
        #expect(parse("yesterday") == nil)
        #expect(parse("2024-13-01") == nil)
    }

    @Test("a missing file and a UTF-16 file give clear errors")
    func fileErrors() throws {
        #expect { try InteractionReader.read(path: "/nonexistent/ratings.csv") } throws: { "\($0)".contains("/nonexistent/ratings.csv: no such file") }
        let utf16: [UInt8] = [0xFF, 0xFE, 0x61, 0x00]
        #expect {
            try utf16.withUnsafeBufferPointer { try InteractionReader.read(bytes: $0, name: "w.csv", configuration: .init()) }
        } throws: { "\($0)".contains("UTF-16") }
    }
}

@Suite("Reading the MovieLens files")
struct MovieLensReadingTests {
    @Test("ml-100k u.data is recognized without options", .enabled(if: SharedData.path("ml-100k/u.data") != nil, SharedData.skipMessage))
    func ml100k() throws {
        let (log, report) = try InteractionReader.read(path: SharedData.path("ml-100k/u.data")!)
        #expect(report.rowsRead == 100_000 && report.rowsSkipped == 0)
        #expect(log.count == 100_000 && log.userIDs.count == 943 && log.itemIDs.count == 1_682)
        let expectedSum: Float = 6_110 + 2 * 11_370 + 3 * 27_145 + 4 * 34_174 + 5 * 21_201
        #expect(log.values.reduce(0, +) == expectedSum)
    }

    @Test("ml-latest-small ratings.csv (header, CRLF) is recognized without options",
          .enabled(if: SharedData.path("ml-latest-small/ratings.csv") != nil, SharedData.skipMessage))
    func latestSmall() throws {
        let (log, report) = try InteractionReader.read(path: SharedData.path("ml-latest-small/ratings.csv")!)
        #expect(report.header && report.columns["item"] == "movieId")
        #expect(log.count == 100_836 && log.userIDs.count == 610 && log.itemIDs.count == 9_724)
    }
}

@Suite("Header detection")
struct HeaderDetectionTests {
    @Test("one-letter column names u, i, r, t are a header")
    func shortNames() throws {
        let (log, report) = try read("u,i\na,x\nb,y\n")
        #expect(report.header && log.count == 2 && log.itemIDs.ids == ["x", "y"])
    }
}

@Suite("Text file writer")
struct TextFileWriterTests {
    private func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("tailor-writer-\(UUID().uuidString).txt").path
    }

    @Test("pieces larger and smaller than the buffer arrive whole and in order, only after finish")
    func buffered() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try TextFileWriter(path: path, bufferSize: 64)
        var expected = ""
        for i in 0..<500 {
            let piece = i % 7 == 0 ? String(repeating: "é\(i)", count: 40) + "\n" : "row \(i)\n"
            expected += piece
            try writer.append(piece)
        }
        #expect(!FileManager.default.fileExists(atPath: path))  // nothing under the final name yet
        try writer.finish()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == expected)
        #expect(writer.bytesWritten == expected.utf8.count)
    }

    @Test("a writer dropped before finish leaves neither the file nor its temporary")
    func dropped() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-writer-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        do {
            let writer = try TextFileWriter(path: folder + "/out.csv", bufferSize: 8)
            try writer.append(String(repeating: "x", count: 100))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }

    @Test("a missing folder is an error naming the file")
    func missingFolder() {
        let path = "/nonexistent-\(UUID().uuidString)/out.csv"
        #expect { try TextFileWriter(path: path) } throws: { error in
            let e = error as? DataError
            return e?.file == path && e?.description.contains("writable") == true
        }
    }
}
