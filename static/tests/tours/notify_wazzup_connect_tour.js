/** @odoo-module **/
/**
 * A Wazzup customer connects their account by button, as a person does it: Wazzup's marketplace sends them to
 * Odoo's connect page (with its `state`), Odoo asks them to log in and brings them back, they read what will be
 * shared with Wazzup, confirm, and see that Wazzup is connected.
 *
 * Driven by tests/test_wazzup_connect.py (TestWazzupConnectTour): the Wazzup simulator issues the state (its test
 * installation) and answers POST v3/connect; the test creates the Notifications manager who logs in here.
 */
import { registry } from "@web/core/registry";

const LOGIN = "wz_manager";
const PASSWORD = "Wazzup-connect-pass-42";

registry.category("web_tour.tours").add("notify_wazzup_connect_tour", {
    steps: () => [
        { content: "Odoo asks to log in first", trigger: "input#login", run: `edit ${LOGIN}` },
        { content: "Password", trigger: "input#password", run: `edit ${PASSWORD}` },
        {
            content: "Log in",
            trigger: 'button[type="submit"]:contains("Log in")',
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Back on the connect page: what will be shared with Wazzup",
            trigger: '.o_notify_wazzup_connect[data-page="confirm"] .o_notify_wazzup_shared li:contains("contacts")',
        },
        {
            content: "Connect",
            trigger: "button.o_notify_wazzup_confirm",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Wazzup is connected",
            trigger: '.o_notify_wazzup_connect[data-page="connected"] .o_notify_wazzup_connected:contains("Wazzup is connected")',
        },
    ],
});
