"""Federation anchors as an operator makes them (docs/FEDERATION.md#anchors):
keys and certificates by the openssl CLI, an anchor written by hand, its
detached signature by `openssl dgst -sha256 -sign`. Used by the dxctl
check's test and the gateway's end-to-end test."""
import datetime
import os
import subprocess


def sh(cmd, cwd):
    subprocess.run(cmd, shell=True, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class AnchorMaker:
    """In `directory`: the hub operator's key (op.key, op.pem) and two
    platforms' roots (root-bca.pem, root-hn.pem)."""

    def __init__(self, directory):
        self.dir = directory
        for name, ca in (("op", False), ("root-bca", True), ("root-hn", True)):
            ext = "-addext basicConstraints=critical,CA:TRUE" if ca else ""
            sh(f"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
               f"-keyout {name}.key -out {name}.pem -days 30 -subj /CN={name} {ext}",
               directory)

    def path(self, name):
        return os.path.join(self.dir, name)

    def anchor(self, serial=3, hanoi_agencies='["H30."]', days_left=20):
        """The hub's anchor: the ministry (vn.gov.bca) and Hanoi."""
        now = datetime.datetime.now(datetime.timezone.utc)
        fmt = "%Y-%m-%dT%H:%M:%SZ"

        def pem(name):
            with open(self.path(name + ".pem")) as f:
                return "|\n        " + f.read().strip().replace("\n", "\n        ")
        return f"""platform_id: vn.ndxp.hub
serial: {serial}
issued_at: "{(now - datetime.timedelta(days=1)).strftime(fmt)}"
expires_at: "{(now + datetime.timedelta(days=days_left)).strftime(fmt)}"
platforms:
  - platform_id: vn.gov.bca
    display_name: Ministry of Public Security
    root_certificates_pem:
      - {pem("root-bca")}
    gateways: [{{address: "bca.example:7443", tls_name: bca.example}}]
    agencies: ["000.00.00.G01"]
    datasets: [bca.population]
  - platform_id: vn.gov.hanoi
    root_certificates_pem:
      - {pem("root-hn")}
    agencies: {hanoi_agencies}
"""

    def write_and_sign(self, text, name="anchor.yaml"):
        """NAME and NAME.sig, each replaced whole (written aside, renamed),
        the signature first, as a deployment tool would."""
        path = self.path(name)
        with open(path + ".next", "w") as f:
            f.write(text)
        sh(f"openssl dgst -sha256 -sign op.key -out {name}.sig.next {name}.next", self.dir)
        os.replace(path + ".sig.next", path + ".sig")
        os.replace(path + ".next", path)
        return path
