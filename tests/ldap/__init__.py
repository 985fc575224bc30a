"""A throw-away OpenLDAP slapd for the LDAP tests: its own directory, a test CA, StartTLS
required (security tls=1: a bind without TLS is refused), on a free port of 127.0.0.1."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SUFFIX = "dc=alexandrite,dc=test"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "admin-secret"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
SUPPORT_GROUP = f"cn=explorer-support,{GROUPS}"
ANALYST_GROUP = f"cn=explorer-analysts,{GROUPS}"

# uid -> (password, given name, surname, mail, groups)
USERS = {
    "sonia": ("sonia-pass", "Sonia", "Support", "sonia@alexandrite.test", [SUPPORT_GROUP]),
    "boris": (
        "boris-pass",
        "Boris",
        "Both",
        "boris@alexandrite.test",
        [SUPPORT_GROUP, ANALYST_GROUP],
    ),
    "nadia": ("nadia-pass", "Nadia", "Nogroup", "nadia@alexandrite.test", []),
}


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for 127.0.0.1/localhost signed by it (PEM files)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Explorer test CA"))
        .issuer_name(_name("Explorer test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


def directory_ldif() -> str:
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Alexandrite\n"
        "dc: alexandrite",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups",
    ]
    for uid, (password, given, surname, mail, _) in USERS.items():
        entries.append(
            f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {given} "
            f"{surname}\ngivenName: {given}\nsn: {surname}\nmail: {mail}\nuserPassword: {password}"
        )
    for group in (SUPPORT_GROUP, ANALYST_GROUP):
        members = [f"uid={uid},{PEOPLE}" for uid, user in USERS.items() if group in user[4]]
        cn = group.split(",")[0].split("=")[1]
        entries.append(
            f"dn: {group}\nobjectClass: groupOfNames\ncn: {cn}\n"
            + "\n".join(f"member: {member}" for member in members)
        )
    return "\n\n".join(entries) + "\n"


def slapd_conf(folder: Path, ca: Path, cert: Path, key: Path) -> str:
    schema = Path("/etc/ldap/schema")
    includes = "\n".join(
        f"include {schema / name}.schema" for name in ("core", "cosine", "inetorgperson", "nis")
    )
    return f"""{includes}
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {folder / "slapd.pid"}
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
security tls=1
database mdb
maxsize 10485760
suffix "{SUFFIX}"
rootdn "{ADMIN_DN}"
rootpw {ADMIN_PASSWORD}
directory {folder / "db"}
access to attrs=userPassword by anonymous auth by self read by * none
access to * by users read by anonymous auth
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Slapd:
    uri: str
    ca_file: Path
    process: subprocess.Popen

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_slapd(folder: Path, timeout: float = 15.0) -> Slapd:
    """Loads the test directory with slapadd and starts slapd in the foreground."""
    ca, cert, key = make_tls_files(folder)
    (folder / "db").mkdir()
    conf = folder / "slapd.conf"
    conf.write_text(slapd_conf(folder, ca, cert, key))
    ldif = folder / "directory.ldif"
    ldif.write_text(directory_ldif())
    subprocess.run(
        ["slapadd", "-f", str(conf), "-l", str(ldif)],
        check=True,
        capture_output=True,
        timeout=timeout,
    )
    port = free_port()
    uri = f"ldap://127.0.0.1:{port}"
    log = (folder / "slapd.log").open("wb")
    process = subprocess.Popen(
        ["slapd", "-f", str(conf), "-h", f"{uri}/", "-d", "0"], stdout=log, stderr=log
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"slapd exited: {(folder / 'slapd.log').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return Slapd(uri=uri, ca_file=ca, process=process)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"slapd did not listen on {uri} within {timeout} s")
