import ApertureProtocol
import Bus
import CameraCore
import Foundation
import Synchronization
import Testing

/// A one-connection-per-command TCP server speaking the evora filter wheel protocol, on
/// loopback, for the length of a test.
final class EvoraWheelServer: Sendable {
    let port: UInt16
    private let listener: Int32
    private final class Recorded: Sendable {
        let commands = Mutex<[String]>([])
        let slot = Mutex(0)
    }
    private let recorded = Recorded()

    /// - Parameter replyOverride: a fixed reply line instead of the protocol's (for error cases).
    init(replyOverride: String? = nil) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        listener = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } }
        guard bound == 0, listen(fd, 8) == 0 else { throw CameraError(.driver, "test server cannot listen") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &size) } }
        port = UInt16(bigEndian: address.sin_port)
        let listener = self.listener
        let recorded = self.recorded
        let thread = Thread {
            while true {
                let connection = accept(listener, nil, nil)
                if connection < 0 { return }
                var line: [UInt8] = []
                var byte: UInt8 = 0
                while recv(connection, &byte, 1, 0) == 1, byte != 0x0A { line.append(byte) }
                let command = String(decoding: line, as: UTF8.self)
                recorded.commands.withLock { $0.append(command) }
                var reply: String
                if command == "get" {
                    reply = "OK,\(recorded.slot.withLock { $0 })"
                } else if command.hasPrefix("move "), let target = Int(command.dropFirst(5)) {
                    recorded.slot.withLock { $0 = target }
                    reply = "OK,moved"
                } else if command == "home" {
                    recorded.slot.withLock { $0 = 0 }
                    reply = "OK,homed"
                } else {
                    reply = "ERR,unknown command"
                }
                if let replyOverride { reply = replyOverride }
                let bytes = Array((reply + "\n").utf8)
                _ = bytes.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(connection)
            }
        }
        thread.start()
    }

    var commands: [String] { recorded.commands.withLock { $0 } }

    /// Stops accepting. The descriptor is left open on purpose: closing it could let another
    /// test's socket reuse its number while the accept thread still holds it.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
    }
}

@Suite struct FilterWheelTests {
    @Test func evoraWheelSpeaksTheLineProtocol() throws {
        let server = try EvoraWheelServer()
        defer { server.stop() }
        let wheel = try EvoraFilterWheel(address: "127.0.0.1:\(server.port)", slots: 6)
        #expect(try wheel.position() == 0)
        try wheel.move(to: 4)
        #expect(try wheel.position() == 4)
        try wheel.home()
        #expect(try wheel.position() == 0)
        #expect(server.commands == ["get", "move 4", "get", "home", "get"])
    }

    @Test func evoraWheelErrorsNameTheServerAndTheReply() throws {
        let server = try EvoraWheelServer(replyOverride: "ERR,jammed")
        defer { server.stop() }
        let wheel = try EvoraFilterWheel(address: "127.0.0.1:\(server.port)", slots: 6)
        let error = #expect(throws: CameraError.self) { try wheel.move(to: 2) }
        #expect(error?.code == .driver)
        #expect(error?.message.contains("127.0.0.1:\(server.port)") == true)
        #expect(error?.message.contains("ERR,jammed") == true)
        #expect(throws: CameraError.self) { try wheel.move(to: 9) }
    }

    @Test func anUnreachableWheelIsADriverError() throws {
        let wheel = try EvoraFilterWheel(address: "127.0.0.1:1", slots: 6, timeout: 1)
        let error = #expect(throws: CameraError.self) { try wheel.position() }
        #expect(error?.message.contains("cannot connect") == true)
    }

    @Test func simulatedWheelMovesAndRefusesUnknownSlots() throws {
        let wheel = SimulatedFilterWheel(slots: 3)
        try wheel.move(to: 2)
        #expect(try wheel.position() == 2)
        #expect(throws: CameraError.self) { try wheel.move(to: 3) }
        try wheel.home()
        #expect(try wheel.position() == 0)
    }
}
