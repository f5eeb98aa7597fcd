"""Services: orchestration used by the CLI, the Discord layer and the scheduler.

No Discord types here.
"""
