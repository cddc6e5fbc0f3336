"""Evidence from decrypted reports, for the analyst's summary (issue 16).

* :mod:`keys.evidence.metadata`: what an image's metadata gives away (``inspect``).
* :mod:`keys.evidence.scrub`: a lossless copy without it (``scrub``, ``verify_clean``,
  ``process_report_folder``).
* :mod:`keys.evidence.phash`: perceptual hashes of photos.
* :mod:`keys.evidence.groups`: reports that corroborate each other (``group_reports``).
* :mod:`keys.evidence.containers`: JPEG/PNG/WebP structure, for the above.

Library code only: nothing here prints, exits or changes an original file. Needs
Pillow (the analyst kit's requirements-analyst.txt) besides the standard library.
"""
