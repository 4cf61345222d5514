"""Three federated platforms on loopback (docs/FEDERATION.md, "Routing
through peers"), each with its own PKI, registry and policy: Hanoi's
(vn.gov.hanoi, the consumer agency H30's), the national hub (vn.ndxp.hub)
and the Ministry of Public Security's (vn.gov.bca, which serves
bca.population and mof.business from its adapters). All import one anchor
signed by the hub's operator with the openssl CLI (tests/harness/anchors.py);
Hanoi and the ministry never exchange anchors. Hanoi's registry sends
bca.population and mof.business to the hub, the hub's to the ministry; the
hub's transit rules (its policy) exclude mof.business; Hanoi's and the
hub's policies let H30 ask bca.population for one more purpose
(household-survey) than the ministry's does; Hanoi passes on at most 20
records in one answer (max_records_unary). Shared by the end-to-end test,
`make bench-federation` and `make demo-federation`."""
import os
import time

from tests.harness.anchors import AnchorMaker
from tests.harness.dev_env import DevEnv, free_ports

H30 = "000.00.00.H30"
HANOI, HUB, BCA = "vn.gov.hanoi", "vn.ndxp.hub", "vn.gov.bca"
ROUTED = ("bca.population", "mof.business")
HANOI_MAX_RECORDS = 20


def indent_pem(path):
    with open(path) as f:
        return "|\n          " + f.read().strip().replace("\n", "\n          ")


def federation_settings(platform, anchors):
    return (f"{{platform_id: {platform}, anchors: [{{"
            f"operator_platform_id: vn.ndxp.hub, "
            f"anchor_file: {anchors}/anchor.yaml, "
            f"signature_file: {anchors}/anchor.yaml.sig, "
            f"operator_certificate_file: {anchors}/op.pem}}]}}")


def routed_registry(env, to):
    """deploy/registry.yaml with the ROUTED datasets served by the peer
    platform `to` (their adapter blocks replaced)."""
    text = env.registry_text()
    for dataset in ROUTED:
        start = text.index(f"  - id: {dataset}")
        block_start = text.index("    adapter:\n", start)
        block_end = text.index("    fields:\n", block_start)
        text = text[:block_start] + f"    peer_platform: {to}\n" + text[block_end:]
    return text


def with_household_survey(policy):
    return policy.replace("purposes: [civil-registration]",
                          "purposes: [civil-registration, household-survey]", 1)


class Platforms:
    """Hanoi -> hub -> ministry. `start()` starts them; `close()` stops
    them whatever happened."""

    def __init__(self, root, build, population=50, settings=None):
        """`settings`: per platform id, more of its gateway's settings."""
        self.root = root
        self.anchors = os.path.join(root, "anchors")
        os.makedirs(self.anchors, exist_ok=True)
        self.maker = AnchorMaker(self.anchors)
        self.ports = dict(zip((HANOI, HUB, BCA), free_ports(3)))

        def platform(name, pid, people, **more):
            own = dict((settings or {}).get(pid, {}))
            own.update(more)
            own["federation"] = federation_settings(pid, self.anchors)
            env = DevEnv(os.path.join(root, name), build, population=people, business=5,
                         gateway_settings=own)
            env.gateway_port = self.ports[pid]
            return env
        self.bca = platform("bca", BCA, population)
        self.hub = platform("hub", HUB, 5)
        # Hanoi passes on at most HANOI_MAX_RECORDS records in one answer.
        self.hn = platform("hn", HANOI, 5, max_records_unary=HANOI_MAX_RECORDS)
        self.envs = (self.hn, self.hub, self.bca)

    def anchor_text(self, serial=1, hub_env=None):
        """The hub operator's anchor naming the three platforms (`hub_env`:
        whose PKI the hub's entry names, for a rotation)."""
        def platform(pid, env, agencies, datasets):
            return f"""  - platform_id: {pid}
    root_certificates_pem:
      - {indent_pem(os.path.join(env.pki, "root-ca.pem"))}
    intermediate_certificates_pem:
      - {indent_pem(os.path.join(env.pki, "intermediate-ca.pem"))}
    gateways: [{{address: "127.0.0.1:{self.ports[pid]}", tls_name: localhost}}]
    agencies: {agencies}
    datasets: {datasets}
"""
        now = time.time()
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        return (f"platform_id: vn.ndxp.hub\nserial: {serial}\n"
                f"issued_at: \"{time.strftime(fmt, time.gmtime(now - 86400))}\"\n"
                f"expires_at: \"{time.strftime(fmt, time.gmtime(now + 30 * 86400))}\"\n"
                "platforms:\n"
                + platform(BCA, self.bca, '["000.00.00.G01", "000.00.00.G12"]',
                           "[bca.population, mof.business]")
                + platform(HUB, hub_env or self.hub, "[]", "[]")
                + platform(HANOI, self.hn, '["000.00.00.H30"]', "[]"))

    def start_router(self, env, registry, policy):
        """A platform's gateway without adapters of its own."""
        env.write("registry.yaml", registry)
        env.write("policy.yaml", policy)
        config, port_file = env.gateway_config("gateway", "gw1", env.gateway_port,
                                               "gateway-data", "pki/gateway",
                                               env.gateway_settings)
        env._spawn("gateway", [env.bin("dxgate"), "--config", config])
        env._wait_port("gateway", port_file)

    def start(self):
        for env in self.envs:
            env.setup()
        self.maker.write_and_sign(self.anchor_text())
        try:
            self.bca.start()
            hub_policy = self.hub.policy_text()
            hub_policy = hub_policy[:hub_policy.index("  - dataset: mof.business")]
            self.start_router(self.hub, routed_registry(self.hub, BCA),
                              with_household_survey(hub_policy))
            self.start_router(self.hn, routed_registry(self.hn, HUB),
                              with_household_survey(self.hn.policy_text()))
        except Exception:
            self.close()
            raise
        return self

    def close(self):
        for env in self.envs:
            env.close()
