# placeholder: replaced by the driver core
