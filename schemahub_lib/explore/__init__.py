"""`schemahub explore`: a local web app over the lakehouse (replay, live discrepancies, stats).

The numbers (lead-lag, spreads, spikes, gaps) are computed by plain functions in this package
and tested on simulator data; `app.py` only routes requests to them and the page only draws.
"""
