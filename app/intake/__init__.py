"""The plaintext boundary: the only package of the server that holds a report in the clear.

A submission's body is read here (body.py: counted, bounded, never spooled),
parsed (multipart.py: strict, bounded text fields in memory, file parts sealed
as they arrive by sealing.py into pieces in the database), validated against the form
definition (validate.py) and sealed to the analysts' public keys (report.py).
What leaves is ciphertext: a :class:`~app.pending.PendingReport`.

Plaintext has exactly one other way out: when validation fails, the typed
values go back to the voter in the re-rendered form (``Invalid`` ->
``app.views.submit`` -> ``form_page``), in the response, never to disk or a log.
The report's receipt code, made in report.py and sealed inside the report, leaves
the same way, to the voter only: ``Accepted.receipt`` -> the 303's Location.
Nothing in this package logs, and nothing plaintext is ever written to a file.
The form's TOML definition (app/formdef.py) is not plaintext and lives outside.

Check it: ``grep -rn -e 'request\\.\\(form\\|files\\|data\\|stream\\|get_data\\)' -e
wsgi.input -e '\\.read(' app/`` finds body reads only in this package.
"""

from __future__ import annotations

from app.intake.body import CountingMiddleware, GuardedRequest, drain
from app.intake.multipart import MAX_TEXT_BODY
from app.intake.report import NONCE_FIELD, Accepted, Invalid, receive
from app.intake.sealing import Receiving

__all__ = [
    "MAX_TEXT_BODY", "NONCE_FIELD", "Accepted", "CountingMiddleware", "GuardedRequest",
    "Invalid", "Receiving", "drain", "receive",
]
