"""How the admin writes dates and times (``FORMAT_MODULE_PATH``): one format everywhere,
to the second, in the exchange's time zone. Django's English default shows minutes only
("Dec. 2, 2026, 1:07 p.m."), which hides the timing of calls and retries."""

DATETIME_FORMAT = "Y-m-d H:i:s"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
