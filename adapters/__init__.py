"""Platform payloads → canonical events: pure parsers, one package per format.

An adapter is bytes and headers in, canonical event dicts out (or an `AdapterError` naming where
and why), with no I/O: `collector/api/adapters.py` is the thin edge that receives the traffic and
hands the events to the same validation, dedupe and durable append as `POST /v1/events`.
Adapters never import the correlator or the collector; they register themselves in `registry`.
"""
