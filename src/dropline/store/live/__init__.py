"""The live drop: drops and offers, holds, checkout and payment, the public view."""
