"""Fault drills (issue 17 part 2, ``manage.py fault_drills``): the production-like stack of ``chat.loadtest.stack``
under a little traffic while one fault at a time is injected, then the data checked.

One module per concern: ``client`` (what a user's HTTP client does), ``traffic`` (threads of such users and what
they saw), ``seed`` (the drill tenant), ``fake_llm`` (a provider whose behaviour a drill switches), ``checks`` (the
data checks, in SQL), ``faults`` and ``faults_edges`` (the drills), ``runner`` (one drill's timeline) and
``report`` (the table and the JSON).
"""
