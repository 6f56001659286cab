"""The read side: what the API, the console and the CLI show.

``reads`` reads and puts together the views (status, deployments with their waits and votes,
a repository's release control, workloads); ``answers`` holds the shapes of the JSON answers and
``shapes`` builds them from records and views; ``workloads`` says what governs each workload.
"""
