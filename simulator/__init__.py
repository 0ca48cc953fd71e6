"""A distribution business in a box: traffic in every system's native format, faults with ground truth.

`simulator.engine.Simulation` plays a distributor's month: orders from a Shopify store, an EDI
retail partner (X12) and a marketplace (Mirakl-style exports through the mapping adapter), an ERP,
three warehouses with their own WMS behaviour and three carriers. Every message it produces is
what that system would really send — webhooks signed as Shopify and EasyPost sign them, X12
interchanges, CSV confirmation files, carrier tracking responses — and goes through the tower's
real adapters. `simulator.send` delivers the traffic to a tower while driving its clock;
`simulator.truth` is what really happened, to score the tower against.
"""
