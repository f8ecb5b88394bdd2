/** @odoo-module **/
/**
 * The Intech payment provider in Odoo's payment form (direct flow, as payment_demo and payment_authorize do): the
 * customer picks a wallet and types its number in the inline form (views/payment_intech_templates.xml); once Odoo
 * created the transaction, its reference, the wallet and the number go to /payment/intech/request, which queues
 * the collection; the customer then waits on /payment/status until Intech's IPN settles it. A refusal (a number of
 * another country, a wallet no longer offered...) is shown in the inline form, and the customer may pay again.
 */

import { _t } from "@web/core/l10n/translation";
import { rpc, RPCError } from "@web/core/network/rpc";
import paymentForm from "@payment/js/payment_form";

const REQUEST_ROUTE = "/payment/intech/request";

paymentForm.include({
    // #=== DOM MANIPULATION ===#

    /**
     * The Intech form is rendered server-side: only the flow needs setting.
     *
     * @override method from @payment/js/payment_form
     */
    async _prepareInlineForm(providerId, providerCode, paymentOptionId, paymentMethodCode, flow) {
        if (providerCode !== "intech") {
            await this._super(...arguments);
            return;
        }
        this._setPaymentFlow("direct");
    },

    // #=== PAYMENT FLOW ===#

    /**
     * Check the wallet and the number before Odoo creates the transaction.
     *
     * @override method from @payment/js/payment_form
     */
    async _initiatePaymentFlow(providerCode, paymentOptionId, paymentMethodCode, flow) {
        if (providerCode !== "intech" || flow === "token") {
            await this._super(...arguments);
            return;
        }
        const form = this._intechGetForm();
        this._intechShowError("");
        if (!form?.querySelector('input[type="radio"]')) {
            this._intechShowError(_t("No mobile money wallet is available for your country."));
            this._enableButton();
            return;
        }
        const inputs = [...form.querySelectorAll("input[required]")];
        if (!inputs.every((input) => input.reportValidity())) {
            this._enableButton();
            return;
        }
        await this._super(...arguments);
    },

    /**
     * Ask for the payment from the chosen wallet, then follow it on the status page.
     *
     * @override method from @payment/js/payment_form
     */
    async _processDirectFlow(providerCode, paymentOptionId, paymentMethodCode, processingValues) {
        if (providerCode !== "intech") {
            await this._super(...arguments);
            return;
        }
        const form = this._intechGetForm();
        const service = form.querySelector('input[type="radio"]:checked');
        const phone = form.querySelector('input[name="o_intech_phone"]');
        try {
            await rpc(REQUEST_ROUTE, {
                reference: processingValues.reference,
                access_token: processingValues.access_token,
                service_id: parseInt(service.value),
                phone: phone.value,
            });
        } catch (error) {
            if (error instanceof RPCError) {
                this._intechShowError(error.data.message);
                this._enableButton();
                return;
            }
            throw error;
        }
        window.location = "/payment/status";
    },

    // #=== GETTERS AND HELPERS ===#

    /**
     * @private
     * @return {Element|null} The Intech form of the selected payment option.
     */
    _intechGetForm() {
        const radio = this.el.querySelector('input[name="o_payment_radio"]:checked');
        return radio && this._getInlineForm(radio)?.querySelector('[name="o_intech_form"]');
    },

    /**
     * @private
     * @param {string} message - What to tell the customer; empty hides the previous message.
     */
    _intechShowError(message) {
        const alert = this._intechGetForm()?.querySelector('[name="o_intech_error"]');
        if (!alert) {
            if (message) {
                this._displayErrorDialog(_t("Payment processing failed"), message);
            }
            return;
        }
        alert.textContent = message;
        alert.classList.toggle("d-none", !message);
    },
});
