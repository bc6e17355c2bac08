"""Demo data: Kolkata's vaccination centres as of mid-2021, and the slots to seed for them.

`centres.csv` lists the five second-dose mega centres and KMC Urban Primary
Health Centres across the 16 boroughs; `demo.py` reads and validates it and
derives two weeks of sessions from it (`kmcbot seed --demo`).
"""
