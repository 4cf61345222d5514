"""Policy documents that several tests and the demos apply through dxctl or
the console: one text each, so that a change to the shared policy's shape
is made once."""


def business_with_h29_statistics(two_person_rule=False):
    """mof.business as deploy/policy.yaml grants it, plus the grant
    `h29-statistics` (H29 may read province and status for statistics).
    two_person_rule: the dataset's changes then need a second approver."""
    rule = "    two_person_rule: true\n" if two_person_rule else ""
    return f"""datasets:
  - dataset: mof.business
{rule}    grants:
      - id: provinces-business-lookup
        consumers: [000.00.00.H30, 000.00.00.H29]
        purposes: [business-licensing, tax-administration]
        legal_basis: Decree 194/2025/ND-CP Art. 16; Law on Enterprises 2020
      - id: h29-statistics
        consumers: [000.00.00.H29]
        purposes: [statistics]
        fields: [province, status]
        legal_basis: Law on Statistics 2015
"""
