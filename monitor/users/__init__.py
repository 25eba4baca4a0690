"""User accounts, roles, API tokens and login protection (21 CFR 11.300).

``UserStore(data_dir, policy, audit)`` holds the accounts in
``<data_dir>/users.db``; every change and every login, failed or not, goes
to the audit trail.
"""
