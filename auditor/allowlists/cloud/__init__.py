"""Cloud firewall readers: AWS, Azure and Google Cloud JSON exports."""
