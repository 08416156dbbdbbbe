"""Wire formats -> native TrafficEvents (one module per format), and storing them."""
