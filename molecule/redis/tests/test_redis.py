def test_ping(host):
    assert host.run("true").rc == 0
