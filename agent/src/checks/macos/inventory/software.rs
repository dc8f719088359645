pub struct MacInventorySoftware;
