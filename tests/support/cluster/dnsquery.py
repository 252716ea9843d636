"""A minimal DNS client (RFC 1035, stdlib only) to ask the cluster DNS directly, over UDP or TCP.

Why not the system resolver: it asks only the servers in /etc/resolv.conf, on port 53, and hides
the response code; the tests need a server on any address and port, and the exact answer (NXDOMAIN
for a missing Service, REFUSED for a name outside the cluster). A and PTR records are decoded.
"""

from __future__ import annotations

import dataclasses
import random
import socket
import struct

TYPES = {"A": 1, "PTR": 12}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
CLASS_IN = 1
RECURSION_DESIRED = 0x0100


@dataclasses.dataclass(frozen=True)
class Answer:
    rcode: str
    authoritative: bool
    records: list[tuple[str, str]]  # (type, value): ("A", "10.96.0.1"), ("PTR", "name.")

    def values(self, rtype: str) -> list[str]:
        return [value for kind, value in self.records if kind == rtype]


def encode_query(name: str, rtype: str, ident: int) -> bytes:
    header = struct.pack("!HHHHHH", ident, RECURSION_DESIRED, 1, 0, 0, 0)
    labels = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split("."))
    return header + labels + b"\0" + struct.pack("!HH", TYPES[rtype], CLASS_IN)


def _read_name(message: bytes, offset: int) -> tuple[str, int]:
    """The name at OFFSET (following compression pointers) and the offset after it."""
    labels: list[str] = []
    end = None
    for _ in range(128):  # a loop of pointers must not hang the test
        length = message[offset]
        if length & 0xC0 == 0xC0:
            end = offset + 2 if end is None else end
            offset = struct.unpack_from("!H", message, offset)[0] & 0x3FFF
        elif length == 0:
            return ".".join(labels) + ".", (offset + 1 if end is None else end)
        else:
            labels.append(message[offset + 1 : offset + 1 + length].decode())
            offset += 1 + length
    raise ValueError("DNS name with a compression loop")


def decode_response(message: bytes, ident: int) -> Answer:
    got, flags, questions, answers, _ns, _ar = struct.unpack_from("!HHHHHH", message)
    if got != ident:
        raise ValueError(f"response id {got} does not match the query's {ident}")
    offset = 12
    for _ in range(questions):
        offset = _read_name(message, offset)[1] + 4
    names = {number: kind for kind, number in TYPES.items()}
    records = []
    for _ in range(answers):
        offset = _read_name(message, offset)[1]
        rtype, _cls, _ttl, length = struct.unpack_from("!HHIH", message, offset)
        offset += 10
        if rtype == TYPES["A"]:
            records.append(("A", socket.inet_ntoa(message[offset : offset + length])))
        elif rtype == TYPES["PTR"]:
            records.append(("PTR", _read_name(message, offset)[0]))
        else:
            records.append((names.get(rtype, str(rtype)), message[offset : offset + length].hex()))
        offset += length
    return Answer(RCODES.get(flags & 0xF, str(flags & 0xF)), bool(flags & 0x0400), records)


def query(
    server: str, port: int, name: str, rtype: str = "A", *, tcp: bool = False,
    timeout: float = 5.0,
) -> Answer:  # fmt: skip
    """Ask SERVER:PORT for NAME's RTYPE records (one try; a timeout raises TimeoutError)."""
    ident = random.randrange(1 << 16)
    message = encode_query(name, rtype, ident)
    if tcp:
        with socket.create_connection((server, port), timeout=timeout) as conn:
            conn.sendall(struct.pack("!H", len(message)) + message)
            length = struct.unpack("!H", _receive(conn, 2))[0]
            return decode_response(_receive(conn, length), ident)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(timeout)
        udp.sendto(message, (server, port))
        return decode_response(udp.recv(65535), ident)


def _receive(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("DNS server closed the connection mid-response")
        data += chunk
    return data
