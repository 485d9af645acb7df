"""neatai: NEAT neuroevolution as gRPC microservices."""
