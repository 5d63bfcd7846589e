"""Certificates for TLS tests, made with the openssl command: a CA, and a server and a client
certificate it signed, both for 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

FILES = ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")


def make_certificates(tmp: Path) -> dict[str, Path]:
    assert shutil.which("openssl") is not None, "openssl makes the TLS tests' certificates"

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=agentdash test CA")  # fmt: skip
    (tmp / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}")  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                "-extfile", "san.ext")  # fmt: skip
    return {name: tmp / name for name in FILES}
