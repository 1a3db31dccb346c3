"""riverlog.platform: the whole platform from one command (`riverlog platform start`).

Each service runs as a child process of the platform (one process tree): the broker, the schema
registry, a Connect worker, the SQL server and the console. A child has its own interpreter and event
loop, so one service's blocking calls or crash cannot stall another, and on two cores each gets its own
GIL. Children lead their own process groups: a terminal's Ctrl-C reaches only the platform, which then
stops them in reverse order of dependency (console first, broker last).
"""
