"""Live exports of a run: `--out prometheus|influxdb|jsonl|webhook=TARGET`, the Locust-style
CSV history, and the Prometheus exposition text of `GET /metrics`.

`observer.exports_observer` is the entry of `yamlswarm.observing.OBSERVERS`;
`sample` turns the live Stats into one sample a second; `series`,
`remote_write`, `influx`, `files` and `webhook` encode and deliver it, each
behind a `pipe` (a bounded queue and a thread of its own); `exposition` renders
the series for scraping.
"""
