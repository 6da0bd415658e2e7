"""Mute lists that follow the user across devices (issue 7).

`merge` is the pure core (the replicated map and its rules); `formats` reads and writes import and export files;
`db` keeps the replicated rows in sqlite; `live` applies merged rows to a running instance; `peer` and `folder`
are the two transports.
"""
