"""In-memory fakes of the chat service's ports. Each one passes the same contract suite
(tests/contracts) as the real adapter it stands in for."""
