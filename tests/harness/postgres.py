"""A PostgreSQL 15 server of a test's own, and the population registry as a
provider's database would hold it (the SQL adapter's tests, its benchmark
and the providers' demo)."""
import os
import shutil
import subprocess
import sys

from tests.harness.dev_env import free_ports

# The population registry as a provider's PostgreSQL would hold it, for
# the demo, the SQL adapter's tests and its benchmark: the dataset's
# full_name is the column ho_ten; dx_reader may only read.
POPULATION_SCHEMA = """
CREATE ROLE dx_reader LOGIN PASSWORD '{password}';
CREATE SCHEMA registry;
GRANT USAGE ON SCHEMA registry TO dx_reader;
CREATE TABLE registry.citizens (
  citizen_id text PRIMARY KEY, ho_ten text NOT NULL, birth_date date,
  sex text, province_code text, province text, address text, ethnicity text);
"""
POPULATION_SQL_DATASET = """
  - dataset_id: bca.population
    table: registry.citizens
    fields:
      - {name: citizen_id}
      - {name: full_name, column: ho_ten}
      - {name: birth_date}
      - {name: sex}
      - {name: province_code}
      - {name: province}
      - {name: address}
      - {name: ethnicity}
    query_keys:
      - {field: citizen_id}
      - {field: full_name, prefix: true}
      - {field: birth_date, type: date, range: true}
      - {field: province_code}
      - {field: ethnicity}
"""


class PostgresServer:
    """A PostgreSQL 15 server of its own: a data dir under `root`, loopback
    on a free port, a socket dir beside it. initdb and postgres refuse to
    run as root, so as root they run as the `postgres` system user (the
    folders are handed to it). Every statement is logged, with the client's
    application name first, for tests that read what reached the server."""
    BIN = "/usr/lib/postgresql/15/bin"
    # More `-c name=value` server options, after the harness's own (a later
    # one wins): a benchmark turns statement logging off and logical
    # decoding on.
    extra_options = ""

    def __init__(self, root, port=None):
        self.root = os.path.abspath(root)
        self.data = os.path.join(self.root, "data")
        self.sockets = os.path.join(self.root, "run")
        self.logfile = os.path.join(self.root, "postgres.log")
        self.port = port or free_ports(1)[0]
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []

    def _run(self, *argv, input=None, check=True):
        return subprocess.run([*self.as_user, *argv], input=input, capture_output=True,
                              text=True, check=check, timeout=120)

    def init(self, superuser_password="dx-superuser"):
        os.makedirs(self.sockets, exist_ok=True)
        if self.as_user:
            # The postgres user must reach its folders through ours.
            path, opened = self.root, []
            while path not in ("/", ""):
                mode = os.stat(path).st_mode
                if mode & 0o001 == 0:
                    os.chmod(path, mode | 0o011)
                    opened.append(path)
                path = os.path.dirname(path)
            import tempfile
            outside = [p for p in opened if not p.startswith(tempfile.gettempdir())]
            if outside:
                print(f"note: gave others search permission (x) on {', '.join(outside)} so "
                      "the postgres user can reach its data dir", file=sys.stderr)
            subprocess.run(["chown", "-R", "postgres:postgres", self.root], check=True)
        pwfile = os.path.join(self.root, "superuser-password")
        with open(pwfile, "w") as f:
            f.write(superuser_password + "\n")
        if self.as_user:
            subprocess.run(["chown", "postgres", pwfile], check=True)
        # Unix-socket logins are trusted (tests, the demo); TCP needs a
        # password (SCRAM), as a provider's server would.
        self._run(f"{self.BIN}/initdb", "-D", self.data, "-U", "postgres", "-E", "UTF8",
                  "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256",
                  f"--pwfile={pwfile}")
        return self

    def use_tls(self, cert_chain_file, key_file):
        """Serves TLS with this certificate chain and key (copied beside
        the data dir, the key readable only by the server)."""
        self.tls = (os.path.join(self.root, "server.pem"), os.path.join(self.root, "server.key"))
        os.makedirs(self.root, exist_ok=True)
        for src, dst in zip((cert_chain_file, key_file), self.tls):
            shutil.copyfile(src, dst)
            os.chmod(dst, 0o600)
        return self

    def start(self):
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            self.init()
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
                   "-c log_statement=all -c log_line_prefix='%a|' "
                   "-c fsync=off -c shared_buffers=64MB")
        if self.extra_options:
            options += " " + self.extra_options
        if getattr(self, "tls", None):
            options += f" -c ssl=on -c ssl_cert_file={self.tls[0]} -c ssl_key_file={self.tls[1]}"
        self._run(f"{self.BIN}/pg_ctl", "-D", self.data, "-l", self.logfile, "-o", options,
                  "-w", "-t", "60", "start")
        return self

    def stop(self):
        self._run(f"{self.BIN}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop",
                  check=False)

    def psql(self, sql, db="postgres"):
        """Runs SQL as the superuser over the socket; returns its rows' text."""
        r = self._run("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
                      self.sockets, "-p", str(self.port), "-U", "postgres", "-d", db,
                      input=sql, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr}")
        return r.stdout.strip()

    def create_population(self, password, csv_path=None, extra_sql=""):
        """Database `population` with POPULATION_SCHEMA, the rows of a
        gen-sample-data CSV when given, then `extra_sql`; dx_reader may read
        every table of schema registry."""
        self.psql("CREATE DATABASE population")
        self.psql(POPULATION_SCHEMA.format(password=password) + extra_sql, db="population")
        if csv_path:
            with open(csv_path, encoding="utf-8") as f:
                self.psql("COPY registry.citizens FROM STDIN WITH (FORMAT csv, HEADER true);\n"
                          + f.read() + "\\.\n", db="population")
        self.psql("GRANT SELECT ON ALL TABLES IN SCHEMA registry TO dx_reader", db="population")

    def log(self):
        with open(self.logfile, encoding="utf-8", errors="replace") as f:
            return f.read()

    def close(self):
        self.stop()
