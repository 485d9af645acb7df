"""Transport security and access, for every server and client: TLS from PEM files, mutual TLS
(the server asks for a client certificate signed by its `--tls-ca`), and bearer tokens checked by
a server interceptor. Health and reflection stay open, so probes and `grpcurl list` work without
credentials; every other call without a valid token is UNAUTHENTICATED. The metrics endpoint
takes the same certificate, key and client CA (Prometheus scrapes it with a client certificate).

Flags (`add_security_arguments`): `--tls-cert`, `--tls-key`, `--tls-ca`, `--auth-token-file` on
servers; clients take `--tls-ca` (to trust the server), `--tls-cert`/`--tls-key` (mutual TLS) and
`--auth-token-file`, or `NEATAI_AUTH_TOKEN`.
"""
from __future__ import annotations

import argparse
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path

import grpc

TOKEN_ENV = "NEATAI_AUTH_TOKEN"
# Probes and tools: answered without credentials.
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class SecurityError(ValueError):
    """A bad TLS or token setting: reported as one line before anything listens or connects."""


def _read(path: str | None, what: str) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise SecurityError(f"{what} {path}: {e.strerror or e}") from None


def _tokens(path: str | None) -> frozenset[str]:
    """One token per line; blank lines and # comments skipped."""
    text = _read(path, "--auth-token-file")
    if text is None:
        return frozenset()
    tokens = frozenset(line.strip() for line in text.decode().splitlines()
                       if line.strip() and not line.lstrip().startswith("#"))
    if not tokens:
        raise SecurityError(f"--auth-token-file {path}: holds no token")
    return tokens


@dataclass(frozen=True)
class ServerSecurity:
    cert_file: str | None = None  # PEM chain; with key_file: TLS
    key_file: str | None = None
    client_ca_file: str | None = None  # mutual TLS: client certificates must be signed by it
    tokens: frozenset[str] = field(default_factory=frozenset)  # bearer tokens accepted (empty: no check)

    def __post_init__(self):
        if bool(self.cert_file) != bool(self.key_file):
            raise SecurityError("--tls-cert and --tls-key go together")
        if self.client_ca_file and not self.cert_file:
            raise SecurityError("--tls-ca (mutual TLS) needs --tls-cert and --tls-key")

    @property
    def tls(self) -> bool:
        return bool(self.cert_file)

    def credentials(self) -> grpc.ServerCredentials:
        cert, key = _read(self.cert_file, "--tls-cert"), _read(self.key_file, "--tls-key")
        ca = _read(self.client_ca_file, "--tls-ca")
        return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=ca is not None)

    def interceptors(self) -> list[grpc.ServerInterceptor]:
        return [BearerTokenInterceptor(self.tokens)] if self.tokens else []

    def metrics_tls(self) -> dict:
        """start_http_server's TLS arguments (none without TLS)."""
        if not self.tls:
            return {}
        return {"certfile": self.cert_file, "keyfile": self.key_file, "client_cafile": self.client_ca_file,
                "client_auth_required": self.client_ca_file is not None}


@dataclass(frozen=True)
class ClientSecurity:
    ca_file: str | None = None  # trust this CA for the server's certificate: TLS on
    cert_file: str | None = None  # present this certificate (mutual TLS)
    key_file: str | None = None
    token: str | None = None  # sent as `authorization: Bearer …` on every call
    server_name: str | None = None  # the name the server's certificate carries, when not the target's host

    def __post_init__(self):
        if bool(self.cert_file) != bool(self.key_file):
            raise SecurityError("--tls-cert and --tls-key go together")
        if (self.cert_file or self.token) and not self.ca_file:
            # A token or client key over plaintext is given away to anyone on the path.
            raise SecurityError("a client certificate or token needs TLS: give --tls-ca")

    @property
    def tls(self) -> bool:
        return bool(self.ca_file)

    def credentials(self) -> grpc.ChannelCredentials | None:
        if not self.tls:
            return None
        credentials = grpc.ssl_channel_credentials(_read(self.ca_file, "--tls-ca"), _read(self.key_file, "--tls-key"),
                                                   _read(self.cert_file, "--tls-cert"))
        if self.token:
            credentials = grpc.composite_channel_credentials(credentials,
                                                             grpc.access_token_call_credentials(self.token))
        return credentials

    def options(self) -> list[tuple[str, str]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


INSECURE = ClientSecurity()


def _denied(message: str):
    def deny(request, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
    return deny


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Only calls carrying `authorization: Bearer <one of tokens>` reach the services; health and
    reflection stay open."""

    def __init__(self, tokens: frozenset[str]):
        self.tokens = [t.encode() for t in tokens]

    def _allowed(self, metadata) -> bool:
        for key, value in metadata or ():
            if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
                given = value[len("Bearer "):].encode()
                # Constant time: a timing difference must not spell a token out.
                return any(hmac.compare_digest(given, t) for t in self.tokens)
        return False

    def intercept_service(self, continuation, handler_call_details):
        if handler_call_details.method.startswith(OPEN_PREFIXES) or \
                self._allowed(handler_call_details.invocation_metadata):
            return continuation(handler_call_details)
        handler = continuation(handler_call_details)
        if handler is None:  # unknown method: UNIMPLEMENTED tells a stranger nothing more
            return None
        deny = _denied("this server needs a bearer token (authorization: Bearer …; neatai: --auth-token-file "
                       f"or {TOKEN_ENV})")
        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(deny)
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(deny)
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(deny)
        return grpc.unary_unary_rpc_method_handler(deny)


# ---- command line ------------------------------------------------------------------------------


def add_security_arguments(p: argparse.ArgumentParser, server: bool) -> None:
    if server:
        p.add_argument("--tls-cert", help="PEM certificate chain: serve TLS (with --tls-key)")
        p.add_argument("--tls-key", help="PEM private key of --tls-cert")
        p.add_argument("--tls-ca", help="PEM CA: require client certificates signed by it (mutual TLS)")
        p.add_argument("--auth-token-file", help="bearer tokens accepted, one per line (health and reflection "
                                                 "stay open)")
    else:
        p.add_argument("--tls-ca", help="PEM CA that signed the server's certificate: connect with TLS")
        p.add_argument("--tls-cert", help="PEM client certificate (mutual TLS, with --tls-key)")
        p.add_argument("--tls-key", help="PEM private key of --tls-cert")
        p.add_argument("--tls-server-name", help="the name in the server's certificate, when not the host's")
        p.add_argument("--auth-token-file", help=f"bearer token to send (first line); default ${TOKEN_ENV}")


def server_security(args: argparse.Namespace) -> ServerSecurity:
    """What the server flags say (the files are read when the server starts); raises SecurityError."""
    return ServerSecurity(args.tls_cert, args.tls_key, args.tls_ca, _tokens(args.auth_token_file))


def client_security(args: argparse.Namespace) -> ClientSecurity:
    """What the client flags say; raises SecurityError. $NEATAI_AUTH_TOKEN is sent over TLS only
    (set for a deployed evolver, it must not stop an in-process run)."""
    token = (os.environ.get(TOKEN_ENV) or None) if args.tls_ca else None
    if args.auth_token_file:
        _tokens(args.auth_token_file)  # the same checks as a server's file
        token = next(line.strip() for line in _read(args.auth_token_file, "--auth-token-file").decode().splitlines()
                     if line.strip() and not line.lstrip().startswith("#"))
    return ClientSecurity(args.tls_ca, args.tls_cert, args.tls_key, token, args.tls_server_name)


def outbound_security(security: ServerSecurity, server_name: str | None = None) -> ClientSecurity:
    """How a server calls other servers (the evolver its evaluators and island peers): with a CA
    (--tls-ca) over TLS trusting it, presenting its own certificate and its first token, checking
    `server_name` in their certificates when given (else the target's host)."""
    if not security.client_ca_file:
        return INSECURE
    return ClientSecurity(security.client_ca_file, security.cert_file, security.key_file,
                          min(security.tokens) if security.tokens else None, server_name)
