"""What the tests share, one implementation of each: servers they start (`servers`: SeaweedFS,
loopback origins), phizer serve in-process and as a process (`serve`), warm's fixtures
(`warm`), PNG chunk bytes (`png`) and waiting for a condition (`waiting`)."""
