mod purity;
