"""The message catalogues (i18n/en.json, i18n/vi.json): the same keys in
both, no empty text, the same {placeholders} in each language, and every key
the console (index.html, app.js, verify.js) and the C++ code (i18n::Text,
refusals' l10n keys) name is in them. Keys built at run time from an enum
(a decision, a reason code) are checked against the enum in the protos.
Reads only the sources: no build needed."""
import json
import os
import re
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(*path):
    with open(os.path.join(REPO, *path), encoding="utf-8") as f:
        return f.read()


def catalogue(lang):
    with open(os.path.join(REPO, "i18n", f"{lang}.json"), encoding="utf-8") as f:
        return json.load(f)


def enum_names(proto, enum):
    body = re.search(r"enum %s \{(.*?)\n\}" % enum, read("proto", "dx", "v1", proto), re.S)
    return re.findall(r"^\s*([A-Z][A-Z0-9_]+)\s*=", body.group(1), re.M)


PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class CatalogueTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.en, cls.vi = catalogue("en"), catalogue("vi")

    def test_every_key_is_in_both_languages_with_its_placeholders(self):
        self.assertEqual(sorted(set(self.en) - set(self.vi)), [], "missing in vi.json")
        self.assertEqual(sorted(set(self.vi) - set(self.en)), [], "missing in en.json")
        for key in self.en:
            with self.subTest(key=key):
                self.assertTrue(self.en[key].strip(), "empty in en.json")
                self.assertTrue(self.vi[key].strip(), "empty in vi.json")
                self.assertEqual(set(PLACEHOLDER.findall(self.en[key])),
                                 set(PLACEHOLDER.findall(self.vi[key])))

    def test_the_vietnamese_is_not_a_copy_of_the_english(self):
        # Symbols and placeholders alone may match; words must not.
        same = [k for k in self.en if self.en[k] == self.vi[k]
                and re.search(r"[A-Za-z]{3}", PLACEHOLDER.sub("", self.en[k]))]
        self.assertEqual(same, [])

    def keys_in_sources(self):
        used = {}
        html = read("console", "assets", "index.html")
        for k in re.findall(r'data-i18n(?:-title)?="([^"]+)"', html):
            used[k] = "index.html"
        for name in ("app.js", "verify.js"):
            js = read("console", "assets", name)
            for k in re.findall(r"\b[tT]\('([a-z][A-Za-z0-9_.]*[A-Za-z0-9_])'", js):
                used[k] = name
            # Keys passed as data (cols([['console.…', …]])).
            for k in re.findall(r"'(console\.[A-Za-z0-9_.]*[A-Za-z0-9_])'", js):
                used[k] = name
        for root, _, files in os.walk(REPO):
            if "/build" in root or "/.git" in root:
                continue
            for f in files:
                if not f.endswith((".cc", ".h")) or f.endswith("_test.cc"):
                    continue
                text = read(os.path.relpath(os.path.join(root, f), REPO))
                for k in re.findall(r'i18n::Text\(\s*[^,]+,\s*"([^"]+)"', text):
                    used[k] = f
                for k in re.findall(r'"((?:refusal|dxctl)\.[a-z_]+)"', text):
                    used[k] = f
        return used

    def test_every_key_the_code_names_is_in_the_catalogue(self):
        used = self.keys_in_sources()
        self.assertGreater(len(used), 150)
        missing = sorted(f"{k} ({where})" for k, where in used.items() if k not in self.en)
        self.assertEqual(missing, [])

    def test_keys_built_from_enums_cover_the_enums(self):
        # gateway/refusal.cc: "refusal." + ReasonCode_Name(reason);
        # app.js: 'console.decision.' + decision.
        for reason in enum_names("errors.proto", "ReasonCode"):
            self.assertIn(f"refusal.{reason}", self.en)
        for decision in enum_names("audit.proto", "Decision"):
            self.assertIn(f"console.decision.{decision}", self.en)

    def test_the_catalogue_has_no_key_nothing_uses(self):
        used = set(self.keys_in_sources())
        used |= {f"refusal.{r}" for r in enum_names("errors.proto", "ReasonCode")}
        used |= {f"console.decision.{d}" for d in enum_names("audit.proto", "Decision")}
        used |= {f"console.adapters.{s}" for s in ("answering", "idle", "answering_again",
                                                    "failing")}
        used |= {f"console.policies.severity.{s}" for s in ("error", "warning")}
        self.assertEqual(sorted(set(self.en) - used), [])


if __name__ == "__main__":
    unittest.main()
