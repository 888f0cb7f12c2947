"""The script `fraudit dashboard` hands to `streamlit run` (frontend/app.py is the same)."""

from fraudit.dashboard.app import main

main()
