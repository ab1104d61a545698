"""The confirmation letter: `make_letter` (the document's pages and the certificate page
rendered with the embedded CJK subset, then sealed with PAdES by the company certificate),
median of 30 runs after a warm-up (target <= 300 ms); and `render_document` alone, which
every issued document costs (for information).

The first call of a process unpacks the font (once per data directory) and parses it; the
warm-up takes that, as a long-running worker would.
"""

import datetime as dt
import statistics

from benchmarks import Measurement, benchmark, timed

RUNS = 30


def _signed_document():
    from kaohe.lib import clock
    from kaohe.org.testing import make_cast
    from kaohe.signing.models import Ceremony, CeremonyPurpose, Method, Signature
    from kaohe.signing.testing import make_document

    cast = make_cast()
    document = make_document(cast.amy)
    now = clock.now()
    ceremony = Ceremony.objects.create(
        purpose=CeremonyPurpose.SIGN, method=Method.PASSWORD, user=cast.amy.user,
        document=document, nonce=b"n" * 32, challenge=b"c" * 32, created_at=now,
        expires_at=now + dt.timedelta(minutes=5), used_at=now,
    )  # fmt: skip
    signature = Signature.objects.create(
        document=document, ceremony=ceremony, method=Method.PASSWORD, signer=cast.amy.user,
        signed_at=now, ip="203.0.113.7", user_agent="Mozilla/5.0 (bench)", entry_index=1,
        evidence={"format": "kaohe-evidence/v1", "doc_sha256": document.doc_sha256},
    )  # fmt: skip
    return document, signature


def _median_ms(func, *args) -> float:
    func(*args)  # warm-up: font parsed, seal key loaded
    return statistics.median(timed(func, *args)[0] for _ in range(RUNS)) * 1000


@benchmark
def letter(scratch):
    from kaohe.signing.letter import make_letter
    from kaohe.signing.render import render_document

    document, signature = _signed_document()
    checkpoint = {"log_id": "bench", "tree_size": 2, "root_hash": "00" * 32,
                  "time": "2026-04-03T02:15:30Z", "key_id": "11" * 8}  # fmt: skip
    return {
        "letter.render_seal_ms_p50": Measurement(
            _median_ms(make_letter, document, signature, checkpoint), unit="ms", target=300
        ),
        "letter.render_document_ms_p50": Measurement(
            _median_ms(render_document, document.data), unit="ms"
        ),
    }
