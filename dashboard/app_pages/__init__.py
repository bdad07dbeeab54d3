"""The dashboard pages, one module per page (run by st.navigation from streamlit_app.py)."""
