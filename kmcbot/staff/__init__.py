"""The centre's desk: the staff console at /staff (issue 21).

accounts.py (staff accounts, passwords, API tokens), audit.py (who did what,
when, from where), limits.py (login and wrong-code limits in Redis), desk.py
(the SQL of a centre's day: roster, check-in, the list, supply, cancelling),
i18n.py (page texts in en and bn), web.py (the sub-application: cookie
session, sign-in, CSRF, roles), pages.py (the centre's pages), operator.py
(every centre, staff accounts, audit log), command.py (`kmcbot staff`).
"""
