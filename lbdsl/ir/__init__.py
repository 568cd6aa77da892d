"""The intermediate representation: a networkx graph of the network and its ordered layers."""
