"""Pure SMS rules, free of Flask and I/O.

- :mod:`roko_app.sms.encoding`: GSM-7 / UCS-2 detection, segment counting and the
  GSM-safe replacement suggestion (the single source of truth for "does this fit one SMS").
- :mod:`roko_app.sms.msisdn`: Guinea (+224) mobile number normalisation.
- :mod:`roko_app.sms.parsing`: parsing what farmers type (codes, opt-out words).
"""
