"""The performance harness of SPEC §11: ``make bench`` (``python -m bench``).

A fleet of simulated buyers (``fleet``), a bare asyncio fan-out baseline
(``baseline``), the exchange served by granian or gunicorn (``exchange``, configured by
``setup``), an open-loop load generator (``load``), post delivery timing
(``postflow``) and the report (``stats``, ``report``), run by ``runner``.
"""
