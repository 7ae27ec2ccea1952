"""Figure 11 of the benchmark suite: Bulk Invite, on either engine.

    .venv/bin/python -m bench.bulk_invite [--quick] [--engine sqlite|postgresql] [--postgres URL]

One `roster serve` (production mode, ROSTER_INVITES_PER_DAY=100000 so that 500 invitations fit
one account's day) on the suite's data. For each of `bulk_reps` runs a new account (`roster
create-client`) and 500 new addresses, pasted, as a full admin through the Users tab's Bulk Invite
as htmx posts it: the time of Preview (POST .../users/bulk/preview: every row decided, nothing
written) and of Send Invites (POST .../users/bulk/send with the rows the preview carries: 500
invitations, their emails queued and their events, in one transaction), each from request to the
whole answer. Targets: preview ≤ 1 s, send ≤ 5 s (the slowest run of each)."""

import re
import statistics
import sys
import time
from html import unescape
from pathlib import Path

from bench.sessions import staff_login

HTMX = {"hx-request": "true"}
ROWS = 500
PROFILES = {"full": {"bulk_reps": 5}, "quick": {"bulk_reps": 2}}
TARGETS = {"bulk_invite": "preview of 500 rows ≤ 1 s, send of 500 ≤ 5 s"}
_ENTRIES = re.compile(r'name="entries" value="([^"]*)"')


def fig_bulk_invite(env: dict, workdir: Path, summary: dict, cfg: dict) -> dict:
    """Figure 11 on a server of its own."""
    from bench.suite import ADMIN_EMAIL, ADMIN_PASSWORD, roster
    from soak.servers import Server

    server = Server({**env, "ROSTER_INVITES_PER_DAY": "100000"}, workdir, "bulk")
    previews, sends = [], []
    try:
        server.wait_ready(time.monotonic() + 60)
        staff = staff_login(server.url, ADMIN_EMAIL, ADMIN_PASSWORD)
        for rep in range(cfg["bulk_reps"]):
            client_id = int(
                roster(
                    env,
                    "create-client",
                    "--owner-email",
                    f"bulk{rep}@bench.test",
                    "--owner-first",
                    "Bulk",
                    "--owner-last",
                    "Owner",
                    "--company",
                    f"Bulk bench {rep}",
                ).strip()  # fmt: skip
            )
            base = f"/admin/clients/{client_id}/users/bulk"
            text = "\n".join(f"Person {n} <bulk{rep}.p{n}@bench.test>" for n in range(ROWS))
            started = time.monotonic()
            preview = staff.post(f"{base}/preview", {"addresses": text, "scope": "all"},
                                 headers=HTMX)  # fmt: skip
            previews.append(time.monotonic() - started)
            found = _ENTRIES.search(preview.text)
            if (
                preview.status_code != 200
                or found is None
                or f"{ROWS} emails will" not in (preview.text)
            ):
                raise RuntimeError(f"preview refused: {preview.status_code} {preview.text[:300]}")
            started = time.monotonic()
            sent = staff.post(f"{base}/send", {"entries": unescape(found[1]), "scope": "all"},
                              headers=HTMX)  # fmt: skip
            sends.append(time.monotonic() - started)
            if sent.status_code != 200 or f"Sent: {ROWS} emails" not in sent.text:
                raise RuntimeError(f"send refused: {sent.status_code} {sent.text[:300]}")
    finally:
        server.stop()
    out = {
        "rows": ROWS,
        "runs": cfg["bulk_reps"],
        "preview_s": {
            "median": round(statistics.median(previews), 3),
            "max": round(max(previews), 3),
        },
        "send_s": {"median": round(statistics.median(sends), 3), "max": round(max(sends), 3)},
    }
    out["met"] = out["preview_s"]["max"] <= 1.0 and out["send_s"]["max"] <= 5.0
    return out


def rows(r: dict) -> list[tuple[str, str, str, dict]]:
    f = r.get("bulk_invite", {})
    if "error" in f:
        return [("11 bulk invite", f["error"][:90], TARGETS["bulk_invite"], f)]
    if not f:
        return []
    return [
        (
            "11 bulk invite",
            f"preview of {f['rows']} rows median {f['preview_s']['median']} / max "
            f"{f['preview_s']['max']} s; send median {f['send_s']['median']} / max "
            f"{f['send_s']['max']} s ({f['runs']} runs)",
            TARGETS["bulk_invite"],
            f,
        )
    ]


def main() -> int:
    from bench import suite

    return suite.figure_alone(
        "bulk_invite",
        fig_bulk_invite,
        rows,
        PROFILES,
        about="Figure 11 of the suite: bulk invite.",
        out="bulk.json",
    )


if __name__ == "__main__":
    sys.exit(main())
